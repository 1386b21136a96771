"""The read model: tables the API, the pages and the notice sender read, kept current by the
projection activities (activities/readmodel.py).

Temporal holds the truth (the zone workflow's state); these rows are a projection of it that can
be rebuilt, so they favour what the readers query (flat columns, comma-joined code lists that a
LIKE can search on both SQLite and PostgreSQL) over normalisation. Every datetime is stored and
returned as an aware UTC datetime (UTCDateTime), so SQLite and PostgreSQL rows compare equal.

The schema is created by Alembic (kenflow/migrations); a change here needs a new revision there,
and tests/test_migrations.py fails until they agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE on PostgreSQL, DATETIME text on SQLite; always aware UTC in Python.

    SQLite keeps no offset, and PostgreSQL converts to the session zone, so values are normalised
    to UTC on the way in and tagged UTC on the way out; naive inputs are taken as UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC) if dialect.name != "sqlite" else value
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


ZONE_FK = "zone.id"


# --------------------------------------------------------------------------- zones


class ZoneRow(SQLModel, table=True):
    """One row per zone workflow; `state_zlib` is the ZoneState without its timeline and its
    copies still to go (the audit and notice tables hold them), as zlib-compressed JSON (read
    it with models.read_rows.stored_state, the copies with queries.unsettled_notices).

    Compressed because every accepted act rewrites it: ~20 KB of text after ten fiscal years
    against ~3 KB, the bytes the zone already sends, so the writer neither inflates them nor
    writes six pages of WAL an act (bench/README item 22)."""

    __tablename__ = "zone"

    id: str = Field(primary_key=True)  # the workflow id, e.g. "settlement-252026"
    name: str
    programme: str = Field(index=True)  # Programme value
    phase: str = Field(index=True)  # Phase value
    central_codes: str  # "252026" or "012211,012289" (dual-centre), in the state's order
    prefecture_codes: str  # ",21,25," so that LIKE '%,25,%' finds the zone
    single_city: bool = False  # a merged city forming a zone alone (合併1市圏域)
    declared_on: date | None = None
    formed_on: date | None = None
    ended_on: date | None = None
    vision_version: int | None = None  # the latest vision (draft or published)
    vision_status: str | None = None
    vision_period_end_fy: int | None = None  # of the vision in force (published), else the draft
    current_fy: int | None = None
    kpi_behind: int = 0  # behind or D-grade KPIs in the latest completed CHECK
    notices_failed: int = 0
    version: int  # ZoneState.version; the projection never goes back to a lower one
    updated_at: datetime = Field(sa_type=UTCDateTime)  # time of the latest accepted act
    digest: str = Field(default="", sa_type=sa.Text)  # per child table; lets a projection skip unchanged ones
    state_zlib: bytes = Field(sa_type=sa.LargeBinary)


class ZoneMemberRow(SQLModel, table=True):
    """Every municipality named in a zone: central cities and each agreement's neighbour (any status)."""

    __tablename__ = "zone_member"

    zone_id: str = Field(primary_key=True, foreign_key=ZONE_FK, ondelete="CASCADE")
    municipality_code: str = Field(primary_key=True, index=True)
    name: str
    role: str  # "central" | "neighbour"
    prefecture_code: str
    agreement_status: str | None = None  # AgreementStatus value, None for a central city


class AgreementRow(SQLModel, table=True):
    __tablename__ = "agreement"

    zone_id: str = Field(primary_key=True, foreign_key=ZONE_FK, ondelete="CASCADE")
    neighbour_code: str = Field(primary_key=True)
    neighbour_name: str
    hub_code: str
    title: str
    status: str  # AgreementStatus value
    version: int
    drafted_on: date
    concluded_on: date | None = None
    abolition_effective_on: date | None = None
    ended_on: date | None = None
    cross_prefecture: bool = False


class VisionRow(SQLModel, table=True):
    __tablename__ = "vision"

    zone_id: str = Field(primary_key=True, foreign_key=ZONE_FK, ondelete="CASCADE")
    version: int = Field(primary_key=True)
    title: str
    status: str  # VisionStatus value
    revision: bool = False
    drafted_on: date
    published_on: date | None = None
    period_start_fy: int
    period_end_fy: int


class KpiRow(SQLModel, table=True):
    """A KPI with its current target version (older versions stay in the zone's state)."""

    __tablename__ = "kpi"

    zone_id: str = Field(primary_key=True, foreign_key=ZONE_FK, ondelete="CASCADE")
    kpi_id: str = Field(primary_key=True)
    name: str
    perspective: str
    field: str
    unit: str = ""
    kind: str
    target_version: int
    baseline_value: float
    baseline_fy: int
    target_value: float
    target_fy: int


class KpiEvaluationRow(SQLModel, table=True):
    """A KPI's evaluation at a fiscal year's CHECK (the snapshot in reviews[fy].evaluations)."""

    __tablename__ = "kpi_evaluation"

    zone_id: str = Field(primary_key=True, foreign_key=ZONE_FK, ondelete="CASCADE")
    kpi_id: str = Field(primary_key=True)
    fy: int = Field(primary_key=True, index=True)
    target_version: int
    actual: float | None = None
    estimate: bool = False
    achievement_rate: float | None = None
    expected_value: float | None = None
    status: str  # KpiStatus value
    grade: str | None = None


# --------------------------------------------------------------------------- audit


class AuditRow(SQLModel, table=True):
    """Who did what: accepted acts (the timeline, from projections) and refusals (from the web layer).

    `seq` is the timeline sequence number of an accepted act, None for a refusal; (zone_id, seq)
    is unique, which is what makes re-projecting a timeline entry harmless.
    """

    __tablename__ = "audit"
    __table_args__ = (sa.UniqueConstraint("zone_id", "seq", name="uq_audit_zone_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    zone_id: str | None = Field(default=None, index=True)  # no FK: refusals may name unknown zones
    seq: int | None = None
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    on: date | None = None  # the business date the act carries
    act: str
    actor_role: str
    actor_code: str | None = None
    actor_name: str | None = None
    summary: str = Field(sa_type=sa.Text)
    result: str  # "accepted" | "refused" | "duplicate"


# --------------------------------------------------------------------------- municipalities


class MunicipalityRow(SQLModel, table=True):
    __tablename__ = "municipality"

    code: str = Field(primary_key=True)  # six digits, with the check digit
    name: str = Field(index=True)
    prefecture_code: str = Field(index=True)
    kind: str = "city"  # MunicipalityKind value
    designated_city: bool = False
    core_city: bool = False
    population: int | None = None
    day_night_ratio: float | None = None
    commute_share_to_metro: float | None = None
    former_cities_json: str = Field(default="[]", sa_type=sa.Text)
    source: str = "seed"  # "seed" | "csv"; a CSV import is never overwritten by the seed


# --------------------------------------------------------------------------- notices


class NoticeRow(SQLModel, table=True):
    """A notice as the sender sees it. Inserted by projections, never overwritten by them once
    delivered; status, delivered_at and attempts are the sender's to update."""

    __tablename__ = "notice"

    key: str = Field(primary_key=True)  # Notice.make_key: the idempotency key
    zone_id: str = Field(index=True)
    document: str
    version: int
    recipient: str
    kind: str  # NoticeKind value
    subject: str
    body: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="pending", index=True)  # "pending" | "delivered" | "failed"
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failure: str | None = Field(default=None, sa_type=sa.Text)
    attempts: int = 0


class DeliveryAttemptRow(SQLModel, table=True):
    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    notice_key: str = Field(foreign_key="notice.key", index=True, ondelete="CASCADE")
    at: datetime = Field(sa_type=UTCDateTime)
    channel: str  # "file" | "email" | "webhook"
    address: str
    outcome: str  # "delivered" | "retry" | "failed" | "skipped_duplicate"
    detail: str | None = Field(default=None, sa_type=sa.Text)


class RecipientRow(SQLModel, table=True):
    """Where a recipient id (mic, pref:25, muni:252026, ministry:mhlw) gets its notices."""

    __tablename__ = "recipient"

    id: str = Field(primary_key=True)
    label: str
    channel: str  # "file" | "email" | "webhook"
    address: str = ""  # email address or URL; empty for the file channel
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --------------------------------------------------------------------------- web and scheduler


class ApiTokenRow(SQLModel, table=True):
    """An API token, stored only as its sha256 hex digest."""

    __tablename__ = "api_token"

    token_hash: str = Field(primary_key=True)
    role: str  # Role value
    code: str | None = None
    label: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked: bool = False


class SchedulerLockRow(SQLModel, table=True):
    """A lease: one scheduler at a time fires the yearly calendar."""

    __tablename__ = "scheduler_lock"

    name: str = Field(primary_key=True)
    owner: str
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


READ_MODEL_TABLES = (
    ZoneRow,
    ZoneMemberRow,
    AgreementRow,
    VisionRow,
    KpiRow,
    KpiEvaluationRow,
    AuditRow,
    MunicipalityRow,
    NoticeRow,
    DeliveryAttemptRow,
    RecipientRow,
    ApiTokenRow,
    SchedulerLockRow,
)
