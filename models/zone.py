"""The state of one zone over its whole life. It is the workflow's only state, carried whole
across continue-as-new, and the read model is a projection of it."""

from __future__ import annotations

import zlib
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from .actor import Actor
from .eligibility import EligibilityVerdict
from .kpi import KpiActual, KpiDefinition, KpiEvaluation
from .municipality import Municipality
from .notice import Notice
from .perspective import Perspective
from .programme import Programme

TEXT = 20_000  # a long document section; bigger bodies are refused before they reach Temporal
SHORT = 200


class Phase(StrEnum):
    declaration = "declaration"  # waiting for the 中心市宣言
    agreements = "agreements"  # declared; no agreement concluded yet
    vision = "vision"  # formed; the vision is being written, reviewed, consulted on
    pdca = "pdca"  # vision published; the yearly cycle runs
    ended = "ended"  # every agreement abolished


PHASE_JA = {
    Phase.declaration: "宣言準備",
    Phase.agreements: "協定締結",
    Phase.vision: "ビジョン策定",
    Phase.pdca: "PDCA",
    Phase.ended: "終了",
}


class Initiative(BaseModel):
    """A concrete initiative (具体的取組) under one perspective and field."""

    perspective: Perspective
    field: str = Field(pattern=r"^[a-f]$")
    title: str = Field(min_length=1, max_length=SHORT)
    description: str = Field(default="", max_length=TEXT)


class Declaration(BaseModel):
    """中心市宣言 / 連携中枢都市宣言 — the contents DOMAIN.md §1 lists."""

    will: str = Field(min_length=1, max_length=TEXT)  # 中心的な役割を担う意思
    urban_functions: str = Field(min_length=1, max_length=TEXT)  # 都市機能の集積状況
    cooperation: str = Field(min_length=1, max_length=TEXT)  # 連携を想定する近隣市町村と取組
    declared_on: date


class EligibilityOverride(BaseModel):
    reason: str = Field(min_length=10, max_length=TEXT)
    by: Actor
    at: datetime


class Resolution(BaseModel):
    """A council resolution (議会の議決)."""

    municipality_code: str
    resolved_on: date
    number: str = Field(min_length=1, max_length=50)  # 議案番号 / 議決番号


class AgreementStatus(StrEnum):
    drafted = "drafted"
    concluded = "concluded"
    abolition_pending = "abolition_pending"
    abolished = "abolished"


AGREEMENT_STATUS_JA = {
    AgreementStatus.drafted: "議決待ち",
    AgreementStatus.concluded: "締結済",
    AgreementStatus.abolition_pending: "廃止予告中",
    AgreementStatus.abolished: "廃止",
}


class Abolition(BaseModel):
    by: str  # the party's code
    resolution: Resolution
    notified_on: date
    notice_period_months: int
    effective_on: date


class Agreement(BaseModel):
    """One 1:1 agreement between a central city (hub) and one neighbour."""

    hub_code: str
    neighbour: Municipality
    title: str = Field(max_length=SHORT)
    initiatives: list[Initiative]
    notice_period_months: int = 24
    drafted_on: date
    version: int = 1
    resolutions: dict[str, Resolution] = Field(default_factory=dict)
    status: AgreementStatus = AgreementStatus.drafted
    concluded_on: date | None = None
    abolition: Abolition | None = None
    ended_on: date | None = None

    @property
    def parties(self) -> tuple[str, str]:
        return (self.hub_code, self.neighbour.code)


class CouncilMember(BaseModel):
    sector: str = Field(min_length=1, max_length=50)  # 医療, 福祉, 教育, 産業, 公共交通, 大規模小売店 ...
    name: str = Field(min_length=1, max_length=100)


class ReviewOutcome(StrEnum):
    approved = "approved"  # 了承
    revise = "revise"  # 修正のうえ再審議


class CouncilReview(BaseModel):
    met_on: date
    members: list[CouncilMember] = Field(min_length=1, max_length=100)
    outcome: ReviewOutcome
    comments: str = Field(default="", max_length=TEXT)


class ConsultationAnswer(StrEnum):
    agree = "agree"  # 異議なし
    agree_with_comments = "agree_with_comments"  # 意見を付して同意


class Consultation(BaseModel):
    municipality_code: str
    answer: ConsultationAnswer
    comments: str = Field(default="", max_length=TEXT)
    answered_on: date


class VisionInitiative(BaseModel):
    """An initiative as the vision lists it: with schedule, municipalities and its agreement."""

    perspective: Perspective
    field: str = Field(pattern=r"^[a-f]$")
    title: str = Field(min_length=1, max_length=SHORT)
    content: str = Field(default="", max_length=TEXT)
    schedule: str = Field(default="", max_length=SHORT)  # e.g. 令和2年度〜令和6年度
    municipalities: list[str] = Field(default_factory=list, max_length=100)
    agreement: str | None = None  # neighbour code of the agreement it rests on


class VisionStatus(StrEnum):
    drafted = "drafted"  # 素案
    reviewed = "reviewed"  # 懇談会で了承, consulting neighbours
    published = "published"
    superseded = "superseded"


class Vision(BaseModel):
    version: int
    revision: bool = False  # a yearly revision skips the consultation round
    title: str = Field(min_length=1, max_length=SHORT)
    future_image: str = Field(min_length=1, max_length=TEXT)  # 圏域の将来像
    initiatives: list[VisionInitiative] = Field(min_length=1, max_length=500)
    kpis: list[KpiDefinition] = Field(default_factory=list, max_length=500)
    period_start_fy: int
    period_end_fy: int
    drafted_on: date
    status: VisionStatus = VisionStatus.drafted
    reviews: list[CouncilReview] = Field(default_factory=list)
    consultations: dict[str, Consultation] = Field(default_factory=dict)
    consultees: list[str] = Field(default_factory=list)
    published_on: date | None = None


class ProjectStatus(BaseModel):
    initiative: str = Field(min_length=1, max_length=SHORT)
    status: str = Field(min_length=1, max_length=50)  # 実施中, 完了, 未着手, 中止 ...
    note: str = Field(default="", max_length=TEXT)


class FiscalYearReview(BaseModel):
    """One turn of PLAN → DO → CHECK → ACTION."""

    fy: int
    requested_on: date
    requested_by: str
    plan: str | None = None
    plan_vision_revision: bool = False
    projects: list[ProjectStatus] = Field(default_factory=list)
    check_on: date | None = None
    evaluations: list[KpiEvaluation] = Field(default_factory=list)
    highlighted: list[str] = Field(default_factory=list)  # behind or D-grade KPI ids
    action_on: date | None = None
    action_results: str | None = None
    improvements: str | None = None
    revise_vision: bool = False

    @property
    def step(self) -> str:
        if self.action_on:
            return "done"
        if self.check_on:
            return "action"
        return "check" if self.plan is not None else "plan"


class TimelineEntry(BaseModel):
    seq: int
    at: datetime  # when kenflow recorded it
    on: date | None = None  # the business date the act carries
    act: str
    actor: Actor
    summary: str


_ENTRIES = TypeAdapter(list[TimelineEntry])
TIMELINE_FIELDS = {"timeline", "timeline_archive"}  # what the read model keeps in its audit table


class ReminderPolicy(BaseModel):
    """Delays for reminders inside a phase; configurable per deployment and per zone."""

    resolution_missing_days: int = Field(default=90, ge=1, le=3650)
    consultation_missing_days: int = Field(default=60, ge=1, le=3650)
    vision_expiry_warning_days: int = Field(default=183, ge=1, le=3650)
    kpi_actuals_due_days: int = Field(default=61, ge=1, le=3650)  # after the FY ends
    repeat_days: int = Field(default=30, ge=1, le=3650)


class ZoneState(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    zone_id: str
    programme: Programme
    name: str
    central_cities: list[Municipality]
    single_city: bool = False  # a merged city forming a zone alone (形成方針)
    travel_minutes: float | None = None  # between the two cities of a metropolitan pair
    phase: Phase = Phase.declaration
    declaration: Declaration | None = None
    eligibility: EligibilityVerdict | None = None
    override: EligibilityOverride | None = None
    policy: Agreement | None = None  # 形成方針 of a single-city zone
    agreements: dict[str, Agreement] = Field(default_factory=dict)  # by neighbour code
    formed_on: date | None = None
    visions: list[Vision] = Field(default_factory=list)
    kpis: dict[str, KpiDefinition] = Field(default_factory=dict)
    actuals: list[KpiActual] = Field(default_factory=list)
    reviews: dict[int, FiscalYearReview] = Field(default_factory=dict)
    current_fy: int | None = None  # the fiscal year under review
    # The current run's entries: the rules append here. At continue-as-new the zone workflow
    # packs them into `timeline_archive` (TIMELINE_ARCHIVE_PATCH in workflows/zone.py), one
    # compressed chunk per run, so the timeline stays in Temporal's hands while a decades-old
    # zone keeps a fiscal year's entries as objects (whole_timeline() has them all).
    timeline: list[TimelineEntry] = Field(default_factory=list)
    timeline_archive: list[bytes] = Field(default_factory=list)  # zlib'd JSON arrays, oldest first
    timeline_seq: int = 0  # the seq of the last entry recorded, archived or not
    notices: list[Notice] = Field(default_factory=list)  # pending or failed; delivered ones drop out
    notices_sent: int = 0
    reminders_fired: list[str] = Field(default_factory=list)
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    imported: bool = False  # started from a recorded past
    version: int = 0  # bumps with every accepted act; orders read-model writes
    ended_on: date | None = None
    run: int = 1  # how many runs (continue-as-new) this zone has had

    @model_validator(mode="after")
    def _count_carried_entries(self) -> ZoneState:
        """A state carried from a run before timeline_seq existed holds every entry."""
        if self.timeline and self.timeline[-1].seq > self.timeline_seq:
            self.timeline_seq = self.timeline[-1].seq
        return self

    def whole_timeline(self) -> list[TimelineEntry]:
        """Every entry of the zone's life, oldest first: the archived runs' and this run's."""
        archived = [
            e for chunk in self.timeline_archive for e in _ENTRIES.validate_json(zlib.decompress(chunk))
        ]
        return archived + self.timeline

    def archive_timeline(self) -> None:
        """Pack this run's entries into one chunk of the archive (at continue-as-new): a
        fiscal year's ~2 KB of JSON becomes one bytes object of a few hundred, which the
        garbage collector does not scan, where the entries as models were ~11 objects each."""
        if self.timeline:
            self.timeline_archive.append(zlib.compress(_ENTRIES.dump_json(self.timeline), 6))
            self.timeline = []

    @property
    def hub(self) -> Municipality:
        return self.central_cities[0]

    @property
    def central_codes(self) -> list[str]:
        return [m.code for m in self.central_cities]

    def municipality(self, code: str) -> Municipality | None:
        for m in self.central_cities:
            if m.code == code:
                return m
        a = self.agreements.get(code)
        return a.neighbour if a else None

    def member_codes(self) -> list[str]:
        """Central cities plus every neighbour with a live (concluded) agreement."""
        live = [
            c
            for c, a in self.agreements.items()
            if a.status in (AgreementStatus.concluded, AgreementStatus.abolition_pending)
            and c not in self.central_codes
        ]
        return self.central_codes + live

    def prefecture_codes(self) -> list[str]:
        codes = {m.prefecture_code for m in self.central_cities}
        codes |= {a.neighbour.prefecture_code for a in self.agreements.values()}
        return sorted(codes)

    @property
    def vision(self) -> Vision | None:
        """The vision in force, or the draft in progress if none is in force yet."""
        return self.visions[-1] if self.visions else None

    @property
    def published_vision(self) -> Vision | None:
        for v in reversed(self.visions):
            if v.status is VisionStatus.published:
                return v
        return None
