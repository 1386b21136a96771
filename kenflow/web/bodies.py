"""Request bodies: the acts of models/acts.py without their actor.

The actor always comes from the token, never from the body, so a municipality cannot speak
for another by editing JSON. Each body builds its act with `act(actor, ...path values)`; the
act is validated again on construction, so the workflow only ever sees well-formed acts.
Fiscal years accept every form clerks write (R3, 令和3年度, 2021) through models.era.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field

from models import acts as A
from models.actor import Actor
from models.codes import MunicipalityCode
from models.era import FiscalYear
from models.kpi import KpiDefinition
from models.kpi_values import parse_value
from models.municipality import Municipality
from models.programme import Programme
from models.zone import (
    TEXT,
    ConsultationAnswer,
    CouncilMember,
    CouncilReview,
    Declaration,
    Initiative,
    ProjectStatus,
    ReminderPolicy,
    Resolution,
    ReviewOutcome,
    VisionInitiative,
)


def _number(v: object) -> object:
    """'12,000', '１２０００', '策定済' as well as 12000: what clerks type into a figure field."""
    if isinstance(v, str):
        return parse_value(v)
    return v


Figure = Annotated[float, BeforeValidator(_number)]


class StartZoneBody(BaseModel):
    """StartZone without started_by (the ministry's token)."""

    programme: Programme
    name: str = Field(min_length=1, max_length=200)
    central_cities: list[Municipality] = Field(min_length=1, max_length=2)
    single_city: bool = False
    travel_minutes: float | None = Field(default=None, ge=0, le=600)
    declaration: Declaration | None = None
    override_reason: str | None = Field(default=None, max_length=TEXT)
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    past: A.RecordedPast | None = None

    def act(self, actor: Actor) -> A.StartZone:
        return A.StartZone(**self.model_dump(exclude_unset=False), started_by=actor)


class DeclareBody(BaseModel):
    declaration: Declaration

    def act(self, actor: Actor) -> A.Declare:
        return A.Declare(actor=actor, declaration=self.declaration)


class OverrideBody(BaseModel):
    reason: str = Field(min_length=10, max_length=TEXT)

    def act(self, actor: Actor) -> A.OverrideEligibility:
        return A.OverrideEligibility(actor=actor, reason=self.reason)


class DraftAgreementBody(BaseModel):
    neighbour: Municipality
    hub_code: MunicipalityCode | None = None
    title: str = Field(default="", max_length=200)
    initiatives: list[Initiative] = Field(min_length=1, max_length=500)
    notice_period_months: int = Field(default=24, ge=1, le=120)
    drafted_on: date

    def act(self, actor: Actor) -> A.DraftAgreement:
        return A.DraftAgreement(actor=actor, **self.model_dump())


class ResolutionBody(BaseModel):
    """A council resolution on the agreement in the path. `municipality_code` is the council
    that resolved; a municipality may leave it out (it is itself)."""

    resolved_on: date
    number: str = Field(min_length=1, max_length=50)
    municipality_code: MunicipalityCode | None = None

    def council(self, actor: Actor) -> str:
        return self.municipality_code or str(actor.code or "")

    def act(self, actor: Actor, neighbour_code: str) -> A.RecordResolution:
        res = Resolution(
            municipality_code=self.council(actor), resolved_on=self.resolved_on, number=self.number
        )
        return A.RecordResolution(actor=actor, neighbour_code=neighbour_code, resolution=res)


class AbolitionBody(BaseModel):
    """One party's notice that it wants the agreement abolished, after its own council's resolution."""

    by: MunicipalityCode | None = None
    resolved_on: date
    number: str = Field(min_length=1, max_length=50)
    notified_on: date

    def council(self, actor: Actor) -> str:
        return self.by or str(actor.code or "")

    def act(self, actor: Actor, neighbour_code: str) -> A.NotifyAbolition:
        by = self.council(actor)
        res = Resolution(municipality_code=by, resolved_on=self.resolved_on, number=self.number)
        return A.NotifyAbolition(
            actor=actor, neighbour_code=neighbour_code, by=by, resolution=res, notified_on=self.notified_on
        )


class PolicyBody(BaseModel):
    title: str = Field(default="", max_length=200)
    initiatives: list[Initiative] = Field(min_length=1, max_length=500)
    resolved_on: date
    number: str = Field(min_length=1, max_length=50)

    def act(self, actor: Actor, hub_code: str) -> A.AdoptPolicy:
        res = Resolution(municipality_code=hub_code, resolved_on=self.resolved_on, number=self.number)
        return A.AdoptPolicy(actor=actor, title=self.title, initiatives=self.initiatives, resolution=res)


class DraftVisionBody(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    future_image: str = Field(min_length=1, max_length=TEXT)
    initiatives: list[VisionInitiative] = Field(min_length=1, max_length=500)
    kpis: list[KpiDefinition] = Field(default_factory=list, max_length=500)
    period_start_fy: FiscalYear
    period_years: int = Field(default=5, ge=1, le=10)
    revision: bool = False
    drafted_on: date

    def act(self, actor: Actor) -> A.DraftVision:
        return A.DraftVision(actor=actor, **self.model_dump())


class CouncilReviewBody(BaseModel):
    met_on: date
    members: list[CouncilMember] = Field(min_length=1, max_length=100)
    outcome: ReviewOutcome
    comments: str = Field(default="", max_length=TEXT)

    def act(self, actor: Actor) -> A.RecordCouncilReview:
        return A.RecordCouncilReview(actor=actor, review=CouncilReview(**self.model_dump()))


class ConsultationBody(BaseModel):
    answer: ConsultationAnswer
    comments: str = Field(default="", max_length=TEXT)
    answered_on: date

    def act(self, actor: Actor, municipality_code: str) -> A.AnswerConsultation:
        return A.AnswerConsultation(actor=actor, municipality_code=municipality_code, **self.model_dump())


class PublicationBody(BaseModel):
    published_on: date

    def act(self, actor: Actor) -> A.PublishVision:
        return A.PublishVision(actor=actor, published_on=self.published_on)


class PlanBody(BaseModel):
    plan: str = Field(min_length=1, max_length=TEXT)
    vision_revision: bool = False

    def act(self, actor: Actor, fy: int) -> A.RecordPlan:
        return A.RecordPlan(actor=actor, fy=fy, **self.model_dump())


class ProjectsBody(BaseModel):
    projects: list[ProjectStatus] = Field(min_length=1, max_length=500)

    def act(self, actor: Actor, fy: int) -> A.RecordProjects:
        return A.RecordProjects(actor=actor, fy=fy, projects=self.projects)


class CheckBody(BaseModel):
    checked_on: date

    def act(self, actor: Actor, fy: int) -> A.CompleteCheck:
        return A.CompleteCheck(actor=actor, fy=fy, checked_on=self.checked_on)


class ActionBody(BaseModel):
    reviewed_on: date
    results: str = Field(min_length=1, max_length=TEXT)
    improvements: str = Field(default="", max_length=TEXT)
    revise_vision: bool = False

    def act(self, actor: Actor, fy: int) -> A.CompleteAction:
        return A.CompleteAction(actor=actor, fy=fy, **self.model_dump())


class ActualBody(BaseModel):
    """One figure for one KPI; `value` also takes text such as '12,000' or '策定済'."""

    fy: FiscalYear
    value: Figure
    from_fy: FiscalYear | None = None
    estimate: bool = False
    label: str | None = Field(default=None, max_length=50)

    def act(self, actor: Actor, kpi_id: str) -> A.RecordKpiActuals:
        entry = A.ActualEntry(kpi_id=kpi_id, **self.model_dump())
        return A.RecordKpiActuals(actor=actor, actuals=[entry], source="form")


class ZoneCreated(BaseModel):
    zone_id: str
    projected: bool  # the read model already shows it


class BulkRowError(BaseModel):
    row: int | None
    column: str | None
    reason: str
