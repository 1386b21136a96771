"""Read functions for the API, the pages and the CLI. Sync; each takes an Engine (a session is
opened and closed here) or a Session the caller owns.

Rows come back detached but fully loaded, except in list functions, which leave out the zone's
`state_zlib` (kBs per zone): reading it there raises instead of silently querying once
per row. Use get_zone for a zone's state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, NamedTuple

from pydantic import BaseModel
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from models.actor import Actor, Role
from models.codes import normalize_municipality_code, normalize_prefecture
from models.kpi import KpiActual, KpiDefinition
from models.notice import Notice, NoticeStatus
from models.programme import Programme
from models.read_rows import stored_json, stored_state
from models.zone import AgreementStatus, TimelineEntry, ZoneState

from .tables import (
    AgreementRow,
    AuditRow,
    DeliveryAttemptRow,
    KpiEvaluationRow,
    KpiRow,
    MunicipalityRow,
    NoticeRow,
    VisionRow,
    ZoneMemberRow,
    ZoneRow,
)

Db = Engine | Session
LIVE = (AgreementStatus.concluded.value, AgreementStatus.abolition_pending.value)
_LIGHT = defer(ZoneRow.state_zlib, raiseload=True)  # type: ignore[arg-type]


@contextmanager
def _session(db: Db) -> Iterator[Session]:
    if isinstance(db, Session):
        yield db
    else:
        with Session(db, expire_on_commit=False) as s:
            yield s


def _value(v: Any) -> Any:
    return getattr(v, "value", v)


# --------------------------------------------------------------------------- zones


def list_zones(
    db: Db,
    phase: str | None = None,
    prefecture: str | None = None,
    programme: str | None = None,
    municipality_code: str | None = None,
) -> list[ZoneRow]:
    """Zones ordered by id. `prefecture` takes '25', '滋賀県' or '滋賀'; `municipality_code` five or
    six digits and matches any member (central city or neighbour, any agreement status).
    Raises models.codes.CodeError on a code or prefecture that cannot exist."""
    stmt = select(ZoneRow).options(_LIGHT).order_by(ZoneRow.id)
    if phase:
        stmt = stmt.where(ZoneRow.phase == _value(phase))
    if programme:
        stmt = stmt.where(ZoneRow.programme == _value(programme))
    if prefecture:
        stmt = stmt.where(col(ZoneRow.prefecture_codes).contains(f",{normalize_prefecture(prefecture)},"))
    if municipality_code:
        code = normalize_municipality_code(municipality_code)
        members = select(ZoneMemberRow.zone_id).where(ZoneMemberRow.municipality_code == code)
        stmt = stmt.where(col(ZoneRow.id).in_(members))
    with _session(db) as s:
        return list(s.scalars(stmt))


# The largest value an INTEGER column holds on PostgreSQL (SQLite's hold 2**63 - 1): a sequence
# number or offset asked for beyond it can match nothing, and the database would refuse it.
INT_MAX = 2**31 - 1
TIMELINE_PAGE = 50  # entries a zone's page and API show at first; older ones are paged


class ZoneDetail(NamedTuple):
    row: ZoneRow
    state: ZoneState  # with its timeline rebuilt from the accepted audit rows it was read with
    timeline: list[AuditRow]  # accepted and refused, oldest first (the newest page of each)

    @property
    def accepted(self) -> int:
        return accepted_count(self.timeline)


def accepted_count(entries: Sequence[AuditRow]) -> int:
    """How many accepted entries a zone has, shown or not, from the newest page of them: seq
    numbers them from 1 without gaps, so the newest one's seq."""
    return max((a.seq or 0 for a in entries if a.result == "accepted"), default=0)


def get_zone(
    db: Db, zone_id: str, limit: int | None = TIMELINE_PAGE, include_refused: bool = True
) -> ZoneDetail | None:
    """The zone with the newest `limit` accepted and refused entries of its timeline (None:
    all of them). A zone lives for decades and gathers thousands of entries; its page shows
    the newest and pages back (timeline_page)."""
    with _session(db) as s:
        row = s.get(ZoneRow, zone_id)
        if row is None:
            return None
        audit = zone_timeline(s, zone_id, include_refused, limit=limit)
        notices = unsettled_notices(s, [zone_id])[zone_id]
    return zone_detail(row, audit, notices)


_NOTICE = NoticeRow.__table__  # type: ignore[attr-defined]
_UNSETTLED = (
    select(_NOTICE)
    .where(
        _NOTICE.c.zone_id.in_(bindparam("zone_ids", expanding=True)),
        _NOTICE.c.status != NoticeStatus.delivered.value,
    )
    .order_by(_NOTICE.c.created_at, _NOTICE.c.key)
)


def unsettled_notices(db: Db, zone_ids: list[str]) -> dict[str, list[Notice]]:
    """Each zone's copies not yet delivered (pending, or failed for good), oldest first: what
    the zone's own state lists, which its row leaves out (models.read_rows.NOT_STORED). The
    sender keeps these rows current, so a read shows a delivery before the zone projects it."""
    out: dict[str, list[Notice]] = {zid: [] for zid in zone_ids}
    if zone_ids:
        with _session(db) as s:
            for r in s.execute(_UNSETTLED, {"zone_ids": list(zone_ids)}).mappings():
                out[r["zone_id"]].append(Notice.model_validate(dict(r)))
    return out


def zone_detail(row: ZoneRow, audit: list[AuditRow], notices: list[Notice]) -> ZoneDetail:
    """The detail of a fully loaded row, its audit rows (oldest first) and its unsettled
    notices, for callers that read them in a session of their own along with other rows."""
    state = stored_state(row.state_zlib)
    state.notices = notices
    state.timeline = [timeline_entry(a) for a in audit if a.result == "accepted" and a.seq is not None]
    if state.timeline:  # a row written before timeline_seq existed
        state.timeline_seq = max(state.timeline_seq, state.timeline[-1].seq)
    return ZoneDetail(row, state, audit)


def timeline_entry(a: AuditRow) -> TimelineEntry:
    return TimelineEntry(
        seq=a.seq or 0,
        at=a.at,
        on=a.on,
        act=a.act,
        summary=a.summary,
        actor=Actor(role=Role(a.actor_role), code=a.actor_code, name=a.actor_name),
    )


_TIMELINE_ORDER = (AuditRow.at, col(AuditRow.seq).asc().nulls_last(), AuditRow.id)


def zone_timeline(
    db: Db, zone_id: str, include_refused: bool = True, limit: int | None = None
) -> list[AuditRow]:
    """The zone's audit rows, oldest first: all of them, or the newest `limit` accepted (by
    seq) and the newest `limit` refused."""
    stmt = select(AuditRow).where(AuditRow.zone_id == zone_id)
    if limit is None:
        if not include_refused:
            stmt = stmt.where(AuditRow.result == "accepted")
        with _session(db) as s:
            return list(s.scalars(stmt.order_by(*_TIMELINE_ORDER)))
    # Two reads along indexes, whatever the zone's age: the newest accepted by seq, and the
    # newest refused by id (a decades-old zone holds thousands of rows; its page shows 2 × limit).
    rows = timeline_page(db, zone_id, limit=limit)
    if include_refused:
        refused = stmt.where(AuditRow.result != "accepted").order_by(col(AuditRow.id).desc()).limit(limit)
        with _session(db) as s:
            rows += s.scalars(refused).all()
    return sorted(rows, key=lambda a: (a.at, a.seq is None, a.seq or 0, a.id or 0))


def timeline_page(
    db: Db, zone_id: str, before: int | None = None, limit: int = TIMELINE_PAGE
) -> list[AuditRow]:
    """Accepted entries with seq below `before` (all, when None): the newest `limit` of them,
    oldest first. Seq numbers a zone's accepted acts from 1, so it pages without gaps."""
    stmt = select(AuditRow).where(AuditRow.zone_id == zone_id, AuditRow.result == "accepted")
    if before is not None:
        stmt = stmt.where(col(AuditRow.seq) < before)
    stmt = stmt.order_by(col(AuditRow.seq).desc()).limit(limit)
    with _session(db) as s:
        return list(reversed(s.scalars(stmt).all()))


def older_than(entries: Sequence[AuditRow]) -> int | None:
    """The seq to page back from for a page of entries (oldest first): its first accepted
    entry's, or None when that is the zone's first entry."""
    first = next((a.seq for a in entries if a.result == "accepted" and a.seq is not None), None)
    return first if first is not None and first > 1 else None


def recent_audit(db: Db, limit: int = 100, result: str | None = None) -> list[AuditRow]:
    """The newest audit rows across all zones (the ministry's activity feed)."""
    stmt = select(AuditRow).order_by(col(AuditRow.at).desc(), col(AuditRow.id).desc()).limit(limit)
    if result:
        stmt = stmt.where(AuditRow.result == result)
    with _session(db) as s:
        return list(s.scalars(stmt))


def _of_zone(db: Db, model: Any, zone_id: str, *order: Any) -> list[Any]:
    with _session(db) as s:
        return list(s.scalars(select(model).where(model.zone_id == zone_id).order_by(*order)))


def zone_members(db: Db, zone_id: str) -> list[ZoneMemberRow]:
    return _of_zone(db, ZoneMemberRow, zone_id, ZoneMemberRow.role, ZoneMemberRow.municipality_code)


def zone_agreements(db: Db, zone_id: str) -> list[AgreementRow]:
    return _of_zone(db, AgreementRow, zone_id, AgreementRow.drafted_on, AgreementRow.neighbour_code)


def zone_visions(db: Db, zone_id: str) -> list[VisionRow]:
    return _of_zone(db, VisionRow, zone_id, VisionRow.version)


def zone_kpis(db: Db, zone_id: str) -> list[KpiRow]:
    return _of_zone(db, KpiRow, zone_id, KpiRow.perspective, KpiRow.field, KpiRow.kpi_id)


def kpi_evaluations(db: Db, zone_id: str | None = None, fy: int | None = None) -> list[KpiEvaluationRow]:
    stmt = select(KpiEvaluationRow).order_by(
        KpiEvaluationRow.zone_id, KpiEvaluationRow.fy, KpiEvaluationRow.kpi_id
    )
    if zone_id is not None:
        stmt = stmt.where(KpiEvaluationRow.zone_id == zone_id)
    if fy is not None:
        stmt = stmt.where(KpiEvaluationRow.fy == fy)
    with _session(db) as s:
        return list(s.scalars(stmt))


# --------------------------------------------------------------------------- notices


def notice_deliveries(db: Db, key: str) -> list[DeliveryAttemptRow]:
    stmt = (
        select(DeliveryAttemptRow)
        .where(DeliveryAttemptRow.notice_key == key)
        .order_by(DeliveryAttemptRow.at, DeliveryAttemptRow.id)
    )
    with _session(db) as s:
        return list(s.scalars(stmt))


# --------------------------------------------------------------------------- municipalities


def search_municipalities(
    db: Db, q: str | None = None, prefecture: str | None = None, limit: int = 50
) -> list[MunicipalityRow]:
    """By name fragment (彦根) or code prefix (25202, 252026); ordered by code."""
    stmt = select(MunicipalityRow).order_by(MunicipalityRow.code).limit(limit)
    if prefecture:
        stmt = stmt.where(MunicipalityRow.prefecture_code == normalize_prefecture(prefecture))
    q = (q or "").strip()
    if q:
        digits = q.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
        if digits.isdigit():
            stmt = stmt.where(col(MunicipalityRow.code).startswith(digits[:5], autoescape=True))
        else:
            stmt = stmt.where(col(MunicipalityRow.name).contains(q, autoescape=True))
    with _session(db) as s:
        return list(s.scalars(stmt))


def get_municipality(db: Db, code: str) -> MunicipalityRow | None:
    with _session(db) as s:
        return s.get(MunicipalityRow, normalize_municipality_code(code))


def zones_of_municipality(db: Db, code: str, live_only: bool = False) -> list[tuple[ZoneRow, ZoneMemberRow]]:
    """Every zone naming the municipality, with its membership (role, agreement status): the
    municipality's inbox. `live_only` keeps central cities and concluded agreements."""
    code = normalize_municipality_code(code)
    stmt = (
        select(ZoneRow, ZoneMemberRow)
        .join(ZoneMemberRow, col(ZoneMemberRow.zone_id) == ZoneRow.id)
        .where(ZoneMemberRow.municipality_code == code)
        .options(_LIGHT)
        .order_by(ZoneRow.id)
    )
    if live_only:
        stmt = stmt.where((ZoneMemberRow.role == "central") | col(ZoneMemberRow.agreement_status).in_(LIVE))
    with _session(db) as s:
        return [(z, m) for z, m in s.execute(stmt)]


# --------------------------------------------------------------------------- national figures


class ProgrammeStats(BaseModel):
    """The figures the ministry publishes (DOMAIN.md: 138 declared, 126 formed, 533 ...).

    Ended zones count nowhere; the last five count formed zones only, as the seed does.
    """

    programme: Programme
    declared_central_cities: int = 0  # cities: a dual-centre zone counts two
    declared_zones: int = 0
    zones_formed: int = 0
    municipalities: int = 0  # distinct central cities and neighbours with a live agreement
    zones_with_vision: int = 0  # a published vision
    zones_with_kpis: int = 0
    cross_prefecture: int = 0  # 県境型: live members in more than one prefecture
    dual_centre: int = 0  # 複眼型
    single_city: int = 0  # 合併1市圏域


def national_stats(db: Db, as_of: date | None = None) -> dict[Programme, ProgrammeStats]:
    """Per programme; `as_of` counts declarations and formations on or before that date."""
    zone_cols = (
        ZoneRow.id,
        ZoneRow.programme,
        ZoneRow.central_codes,
        ZoneRow.single_city,
        ZoneRow.declared_on,
        ZoneRow.formed_on,
    )
    with _session(db) as s:
        zones = s.execute(select(*zone_cols).where(col(ZoneRow.ended_on).is_(None))).all()
        members = s.execute(
            select(
                ZoneMemberRow.zone_id, ZoneMemberRow.municipality_code, ZoneMemberRow.prefecture_code
            ).where((ZoneMemberRow.role == "central") | col(ZoneMemberRow.agreement_status).in_(LIVE))
        ).all()
        published = select(VisionRow.zone_id).where(VisionRow.status == "published").distinct()
        with_vision = set(s.scalars(published))
        with_kpis = set(s.scalars(select(KpiRow.zone_id).distinct()))
    live: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for zone_id, code, pref in members:
        live[zone_id].append((code, pref))
    out = {p: ProgrammeStats(programme=p) for p in Programme}
    municipalities: dict[Programme, set[str]] = defaultdict(set)
    for zid, programme, central, single, declared_on, formed_on in zones:
        st = out[Programme(programme)]
        if declared_on is not None and (as_of is None or declared_on <= as_of):
            st.declared_zones += 1
            st.declared_central_cities += len(central.split(","))
        if formed_on is None or (as_of is not None and formed_on > as_of):
            continue
        st.zones_formed += 1
        municipalities[st.programme].update(code for code, _ in live[zid])
        st.zones_with_vision += zid in with_vision
        st.zones_with_kpis += zid in with_kpis
        st.cross_prefecture += len({pref for _, pref in live[zid]}) > 1
        st.dual_centre += len(central.split(",")) == 2
        st.single_city += bool(single)
    for p, codes in municipalities.items():
        out[p].municipalities = len(codes)
    return out


def phase_counts(db: Db) -> dict[tuple[str, str], int]:
    """(programme, phase) -> number of zones, for the dashboard."""
    from sqlalchemy import func

    stmt = select(ZoneRow.programme, ZoneRow.phase, func.count()).group_by(ZoneRow.programme, ZoneRow.phase)
    with _session(db) as s:
        return {(p, ph): n for p, ph, n in s.execute(stmt)}


__all__: Sequence[str] = [
    "ProgrammeStats",
    "TIMELINE_PAGE",
    "ZoneDetail",
    "get_municipality",
    "get_zone",
    "kpi_evaluations",
    "list_zones",
    "national_stats",
    "older_than",
    "notice_deliveries",
    "phase_counts",
    "recent_audit",
    "search_municipalities",
    "timeline_entry",
    "timeline_page",
    "zone_agreements",
    "zone_detail",
    "unsettled_notices",
    "accepted_count",
    "zone_kpis",
    "zone_members",
    "zone_timeline",
    "zone_visions",
    "zones_of_municipality",
]


class _KpiSlice(BaseModel):
    """Only the KPI part of a zone's state: national roll-ups need nothing else."""

    kpis: dict[str, KpiDefinition] = {}
    actuals: list[KpiActual] = []


def national_kpis(
    db: Db, programme: str | None = None
) -> list[tuple[str, list[KpiDefinition], list[KpiActual]]]:
    """(zone id, KPI definitions, actuals) for every formed zone that has not ended."""
    q = select(ZoneRow.id, ZoneRow.state_zlib).where(
        ZoneRow.formed_on.is_not(None), ZoneRow.ended_on.is_(None)
    )
    if programme:
        q = q.where(ZoneRow.programme == programme)
    with _session(db) as s:
        rows = s.exec(q.order_by(ZoneRow.id)).all()
    out = []
    for zone_id, raw in rows:
        part = _KpiSlice.model_validate_json(stored_json(raw))
        out.append((zone_id, list(part.kpis.values()), part.actuals))
    return out
