"""Human acts: the single input of each Update. Each carries its actor and the business date
it happened on, so an act entered late (or replayed from paper records) keeps its real date."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, model_validator

from .actor import Actor
from .kpi import KpiDefinition
from .municipality import Municipality
from .programme import Programme
from .zone import (
    TEXT,
    ConsultationAnswer,
    CouncilReview,
    Declaration,
    Initiative,
    ProjectStatus,
    ReminderPolicy,
    Resolution,
    VisionInitiative,
)


class Act(BaseModel):
    actor: Actor


class PastAgreement(BaseModel):
    neighbour: Municipality
    hub_code: str | None = None
    title: str = ""
    initiatives: list[Initiative] = Field(default_factory=list)
    notice_period_months: int = 24
    concluded_on: date


class PastVision(BaseModel):
    title: str
    future_image: str = "（移行データ）"
    # A vision names at least one initiative; an empty list here failed the zone's first
    # workflow task instead of being refused at the door.
    initiatives: list[VisionInitiative] = Field(min_length=1, max_length=500)
    kpis: list[KpiDefinition] = Field(default_factory=list, max_length=500)
    period_start_fy: int
    period_end_fy: int
    published_on: date


class RecordedPast(BaseModel):
    """What an existing zone already did on paper, so it enters the lifecycle at the right
    phase without re-sending old notices."""

    agreements: list[PastAgreement] = Field(default_factory=list)
    policy_adopted_on: date | None = None
    vision: PastVision | None = None


class StartZone(BaseModel):
    programme: Programme
    name: str = Field(min_length=1, max_length=200)
    central_cities: list[Municipality] = Field(min_length=1, max_length=2)
    single_city: bool = False
    travel_minutes: float | None = Field(default=None, ge=0, le=600)  # between a metropolitan pair
    declaration: Declaration | None = None
    override_reason: str | None = Field(default=None, max_length=TEXT)
    started_by: Actor
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    past: RecordedPast | None = None

    @model_validator(mode="after")
    def _shape(self) -> StartZone:
        if self.single_city and len(self.central_cities) != 1:
            raise ValueError("単独の合併市による圏域は中心市1市です (a single-city zone has one city)")
        if len({m.code for m in self.central_cities}) != len(self.central_cities):
            raise ValueError("複眼型の中心市が重複しています (the two central cities are the same)")
        return self

    @property
    def zone_id(self) -> str:
        return zone_id_for(self.programme, self.central_cities[0].code)


def zone_id_for(programme: Programme, central_code: str) -> str:
    """The stable business key: programme plus the (first) central city's code."""
    return f"{programme.value}-{central_code}"


class Declare(Act):
    declaration: Declaration


class OverrideEligibility(Act):
    reason: str = Field(min_length=10, max_length=TEXT)


class DraftAgreement(Act):
    neighbour: Municipality
    hub_code: str | None = None  # which central city signs, in a dual-centre zone
    title: str = Field(default="", max_length=200)
    initiatives: list[Initiative] = Field(max_length=500)
    notice_period_months: int = Field(default=24, ge=1, le=120)
    drafted_on: date


class RecordResolution(Act):
    neighbour_code: str
    resolution: Resolution


class NotifyAbolition(Act):
    neighbour_code: str
    by: str  # the party that wants to abolish
    resolution: Resolution
    notified_on: date


class AdoptPolicy(Act):
    """形成方針 of a merged city forming a zone alone, adopted by its council."""

    title: str = Field(default="", max_length=200)
    initiatives: list[Initiative] = Field(max_length=500)
    resolution: Resolution


class DraftVision(Act):
    title: str = Field(min_length=1, max_length=200)
    future_image: str = Field(min_length=1, max_length=TEXT)
    initiatives: list[VisionInitiative] = Field(min_length=1, max_length=500)
    kpis: list[KpiDefinition] = Field(default_factory=list, max_length=500)
    period_start_fy: int = Field(ge=2008, le=2100)
    period_years: int = Field(default=5, ge=1, le=10)
    revision: bool = False
    drafted_on: date


class RecordCouncilReview(Act):
    review: CouncilReview


class AnswerConsultation(Act):
    municipality_code: str
    answer: ConsultationAnswer
    comments: str = Field(default="", max_length=TEXT)
    answered_on: date


class PublishVision(Act):
    published_on: date


class ReviewFiscalYear(Act):
    fy: int = Field(ge=2008, le=2100)


class RecordPlan(Act):
    fy: int
    plan: str = Field(min_length=1, max_length=TEXT)
    vision_revision: bool = False


class RecordProjects(Act):
    fy: int
    projects: list[ProjectStatus] = Field(min_length=1, max_length=500)


class ActualEntry(BaseModel):
    kpi_id: str = Field(min_length=1, max_length=64)
    fy: int = Field(ge=1989, le=2100)
    value: float
    from_fy: int | None = Field(default=None, ge=1989, le=2100)
    estimate: bool = False
    label: str | None = Field(default=None, max_length=50)


class RecordKpiActuals(Act):
    """One or many actuals: a bulk upload lands as ONE update."""

    actuals: list[ActualEntry] = Field(min_length=1, max_length=10_000)
    source: str = Field(default="form", max_length=200)  # "form" or the uploaded file's name


class CompleteCheck(Act):
    fy: int
    checked_on: date


class CompleteAction(Act):
    fy: int
    reviewed_on: date
    results: str = Field(min_length=1, max_length=TEXT)
    improvements: str = Field(default="", max_length=TEXT)
    revise_vision: bool = False


# The name of the zone workflow's Update for each act. These names are in every recorded
# history and every client's calls: never rename one.
UPDATE_NAMES: dict[type[Act], str] = {
    Declare: "declare",
    OverrideEligibility: "override_eligibility",
    DraftAgreement: "draft_agreement",
    RecordResolution: "record_resolution",
    NotifyAbolition: "notify_abolition",
    AdoptPolicy: "adopt_policy",
    DraftVision: "draft_vision",
    RecordCouncilReview: "record_council_review",
    AnswerConsultation: "answer_consultation",
    PublishVision: "publish_vision",
    ReviewFiscalYear: "review_fiscal_year",
    RecordPlan: "record_plan",
    RecordProjects: "record_projects",
    RecordKpiActuals: "record_kpi_actuals",
    CompleteCheck: "complete_check",
    CompleteAction: "complete_action",
}
ACT_FOR_UPDATE: dict[str, type[Act]] = {name: act for act, name in UPDATE_NAMES.items()}


class ActResult(BaseModel):
    zone_id: str
    version: int
    act: str
    summary: str
    duplicate: bool = False


class ZoneView(BaseModel):
    """What the state query returns."""

    state: dict
    today: date
