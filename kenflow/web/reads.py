"""Read-model queries and views the web layer needs beyond kenflow.db.queries.

Everything here reads the projection (never Temporal), so pages and GETs stay fast and keep
working while Temporal is down. Sync functions: routes run them in the thread pool.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, Row, func, select
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from kenflow.db import queries as Q
from kenflow.db.tables import (
    AgreementRow,
    DeliveryAttemptRow,
    KpiEvaluationRow,
    KpiRow,
    NoticeRow,
    ZoneMemberRow,
    ZoneRow,
)
from kenflow.policy import ZoneFacts
from models.actor import Actor, Role
from models.fiscal import fiscal_year_end, fiscal_year_of
from models.kpi import KpiActual, KpiDefinition, KpiEvaluation, KpiStatus, evaluate
from models.read_rows import stored_state
from models.zone import TIMELINE_FIELDS, AgreementStatus, VisionStatus, ZoneState

_LIGHT = defer(ZoneRow.state_zlib, raiseload=True)  # type: ignore[arg-type]


def zone_facts(engine: Engine, zone_id: str) -> ZoneFacts | None:
    """Membership for the policy, from the light rows (no state to decompress and parse)."""
    with Session(engine) as s:
        row = s.scalars(select(ZoneRow).options(_LIGHT).where(ZoneRow.id == zone_id)).first()
        if row is None:
            return None
        return zone_facts_of(s, row)


def zone_facts_of(s: Session, row: ZoneRow | Row[Any]) -> ZoneFacts:
    """Only the columns the policy needs, as plain rows (no ORM objects to build)."""
    members = s.execute(
        select(ZoneMemberRow.municipality_code, ZoneMemberRow.role, ZoneMemberRow.agreement_status).where(
            ZoneMemberRow.zone_id == row.id
        )
    ).all()
    hubs = s.execute(
        select(AgreementRow.neighbour_code, AgreementRow.hub_code).where(AgreementRow.zone_id == row.id)
    ).all()
    return ZoneFacts(
        zone_id=row.id,
        central_codes=tuple(c for c in row.central_codes.split(",") if c),
        prefecture_codes=tuple(p for p in row.prefecture_codes.split(",") if p),
        members={code: (None if role == "central" else status) for code, role, status in members},
        hubs={code: hub for code, hub in hubs},
    )


async def wait_for_zone(engine: Engine, zone_id: str, within: float = 15.0) -> bool:
    """A new zone's first projection runs just after its workflow starts; wait for it so the
    caller can read what it just created."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await asyncio.to_thread(zone_facts, engine, zone_id) is not None:
            return True
        await asyncio.sleep(0.05)
    return False


def visible_zones(
    engine: Engine,
    actor: Actor,
    phase: str | None = None,
    prefecture: str | None = None,
    programme: str | None = None,
) -> list[ZoneRow]:
    """The zone list an actor may see (the prefecture filter is already forced by the caller)."""
    code = actor.code if actor.role is Role.municipality else None
    return Q.list_zones(
        engine, phase=phase, prefecture=prefecture, programme=programme, municipality_code=code
    )


def deliveries_by_notice(engine: Engine, keys: list[str]) -> dict[str, list[DeliveryAttemptRow]]:
    out: dict[str, list[DeliveryAttemptRow]] = defaultdict(list)
    if not keys:
        return out
    stmt = (
        select(DeliveryAttemptRow)
        .where(col(DeliveryAttemptRow.notice_key).in_(keys))
        .order_by(DeliveryAttemptRow.at, DeliveryAttemptRow.id)
    )
    with Session(engine, expire_on_commit=False) as s:
        for d in s.scalars(stmt):
            out[d.notice_key].append(d)
    return out


def own_recipient(actor: Actor) -> str | None:
    """The one recipient whose copies a prefecture or municipality may see (None: the ministry
    sees every copy). The rule for the notices APIs, the zone page and a zone's state."""
    if actor.role is Role.prefecture:
        return f"pref:{actor.code}"
    if actor.role is Role.municipality:
        return f"muni:{actor.code}"
    return None


def state_for(actor: Actor, state: ZoneState) -> dict[str, Any]:
    """A zone's state as JSON for `actor`: the notices still in it (pending or failed) are
    only those it may see (own_recipient)."""
    out = state.model_dump(mode="json", exclude=TIMELINE_FIELDS)
    if (mine := own_recipient(actor)) is not None:
        out["notices"] = [n for n in out["notices"] if n["recipient"] == mine]
    return out


NOTICE_PAGE = 50  # copies a zone's page shows; the rest page through /zones/{id}/notices


def _visible(stmt: Any, actor: Actor, zone_id: str | None) -> Any:
    if zone_id is not None:
        stmt = stmt.where(NoticeRow.zone_id == zone_id)
    if (mine := own_recipient(actor)) is not None:
        stmt = stmt.where(NoticeRow.recipient == mine)
    return stmt


def notices_for(
    engine: Engine, actor: Actor, limit: int | None = 500, zone_id: str | None = None, offset: int = 0
) -> list[NoticeRow]:
    """The notices an actor may see (own_recipient), newest first."""
    stmt = _visible(select(NoticeRow), actor, zone_id)
    stmt = stmt.order_by(col(NoticeRow.created_at).desc(), NoticeRow.key).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    with Session(engine, expire_on_commit=False) as s:
        return list(s.scalars(stmt))


def count_notices(engine: Engine, actor: Actor, zone_id: str) -> int:
    stmt = _visible(select(func.count()).select_from(NoticeRow), actor, zone_id)
    with Session(engine) as s:
        return int(s.execute(stmt).scalar_one())


@dataclass
class NoticeSlice:
    """A page of the copies an actor may see in a zone, newest first, with how many there are in
    all and each copy's delivery attempts: what the zone page, its notices pages and
    GET /api/zones/{id}/notices show."""

    total: int
    notices: list[NoticeRow]
    deliveries: dict[str, list[DeliveryAttemptRow]]


def notice_slice(engine: Engine, actor: Actor, zone_id: str, limit: int, offset: int = 0) -> NoticeSlice:
    notices = notices_for(engine, actor, limit=limit, zone_id=zone_id, offset=offset)
    return NoticeSlice(
        count_notices(engine, actor, zone_id), notices, deliveries_by_notice(engine, [n.key for n in notices])
    )


# --------------------------------------------------------------------------- KPIs


@dataclass
class KpiView:
    kpi: KpiDefinition
    actuals: list[KpiActual]
    evaluations: list[KpiEvaluation]  # snapshots taken at each CHECK
    latest: KpiEvaluation | None  # evaluated now, for the latest FY with a figure (or the current FY)


def kpi_views(state: ZoneState, snapshots: list[KpiEvaluationRow], today: date) -> list[KpiView]:
    by_kpi: dict[str, list[KpiEvaluation]] = defaultdict(list)
    for r in snapshots:
        by_kpi[r.kpi_id].append(
            KpiEvaluation(
                kpi_id=r.kpi_id,
                fy=r.fy,
                target_version=r.target_version,
                actual=r.actual,
                estimate=r.estimate,
                achievement_rate=r.achievement_rate,
                expected_value=r.expected_value,
                status=KpiStatus(r.status),
                grade=r.grade,
            )
        )
    out = []
    for k in state.kpis.values():
        mine = sorted((a for a in state.actuals if a.kpi_id == k.id), key=lambda a: (a.fy, a.estimate))
        fy = max((a.fy for a in mine), default=fiscal_year_of(today))
        out.append(KpiView(k, mine, by_kpi.get(k.id, []), evaluate(k, state.actuals, fy)))
    return out


def export_years(state: ZoneState, today: date) -> list[int]:
    """FYs a KPI sheet covers: every FY with a figure or a review, and the current one."""
    years = {a.fy for a in state.actuals} | set(state.reviews) | {fiscal_year_of(today)}
    return sorted(years)


# --------------------------------------------------------------------------- overdue items


@dataclass
class Overdue:
    what: str
    since: date
    who: list[str] = field(default_factory=list)


def overdue_items(state: ZoneState, today: date) -> list[Overdue]:
    """What is late in a zone, in the clerk's words: the same delays as the reminders."""
    p, out = state.reminders, []
    if state.ended_on is not None:
        return out
    for ag in state.agreements.values():
        due = ag.drafted_on + timedelta(days=p.resolution_missing_days)
        if ag.status is AgreementStatus.drafted and due <= today:
            missing = [c for c in ag.parties if c not in ag.resolutions]
            out.append(Overdue(f"{ag.neighbour.name}との協定の議会の議決が未登録", due, missing))
    v = state.vision
    if v is not None and v.status is VisionStatus.reviewed and v.reviews:
        waiting = [c for c in v.consultees if c not in v.consultations]
        due = v.reviews[-1].met_on + timedelta(days=p.consultation_missing_days)
        if waiting and due <= today:
            out.append(Overdue("ビジョン案の協議への回答待ち", due, waiting))
    pv = state.published_vision
    if pv is not None and fiscal_year_end(pv.period_end_fy) < today and (v is None or v is pv):
        out.append(Overdue("ビジョンの計画期間が終了(次期ビジョン未策定)", fiscal_year_end(pv.period_end_fy)))
    for fy, r in sorted(state.reviews.items()):
        due = fiscal_year_end(fy) + timedelta(days=p.kpi_actuals_due_days)
        if r.check_on is None and due <= today:
            out.append(Overdue(f"{fy}年度のKPI実績の入力・CHECKが未了", due))
    failed = [n for n in state.notices if n.status.value == "failed"]
    if failed:
        out.append(Overdue(f"写し・通知の送付失敗 {len(failed)}件", today))
    return out


# --------------------------------------------------------------------------- national figures


def formed_per_year(zones: list[ZoneRow]) -> dict[str, Counter[int]]:
    """Zones formed per fiscal year, per programme (for the dashboard chart)."""
    out: dict[str, Counter[int]] = defaultdict(Counter)
    for z in zones:
        if z.formed_on is not None:
            out[z.programme][fiscal_year_of(z.formed_on)] += 1
    return out


def kpi_status_by_field(
    engine: Engine, zone_ids: list[str] | None = None
) -> dict[tuple[str, str], Counter[str]]:
    """KPI statuses at each zone's latest CHECK, by policy field (perspective, field)."""
    stmt = select(KpiEvaluationRow, KpiRow.perspective, KpiRow.field).join(
        KpiRow,
        (col(KpiRow.zone_id) == KpiEvaluationRow.zone_id) & (col(KpiRow.kpi_id) == KpiEvaluationRow.kpi_id),
    )
    if zone_ids is not None:
        stmt = stmt.where(col(KpiEvaluationRow.zone_id).in_(zone_ids))
    with Session(engine) as s:
        rows = s.execute(stmt).all()
    latest: dict[str, int] = {}
    for ev, _, _ in rows:
        latest[ev.zone_id] = max(latest.get(ev.zone_id, ev.fy), ev.fy)
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for ev, perspective, fld in rows:
        if ev.fy == latest[ev.zone_id]:
            out[(perspective, fld)][ev.status] += 1
    return out


def kpi_status_by_zone(engine: Engine) -> dict[str, Counter[str]]:
    """Per zone, KPI statuses at its latest CHECK (the dashboard's KPI column)."""
    with Session(engine) as s:
        rows = list(s.scalars(select(KpiEvaluationRow)))
    latest: dict[str, int] = {}
    for ev in rows:
        latest[ev.zone_id] = max(latest.get(ev.zone_id, ev.fy), ev.fy)
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for ev in rows:
        if ev.fy == latest[ev.zone_id]:
            out[ev.zone_id][ev.status] += 1
    return out


def zone_states(engine: Engine, zone_ids: list[str]) -> dict[str, ZoneState]:
    """Full states for a page's worth of zones, one query."""
    if not zone_ids:
        return {}
    with Session(engine) as s:
        rows = s.execute(select(ZoneRow.id, ZoneRow.state_zlib).where(col(ZoneRow.id).in_(zone_ids))).all()
        states = {zid: stored_state(blob) for zid, blob in rows}
        for zid, notices in Q.unsettled_notices(s, list(states)).items():
            states[zid].notices = notices
    return states
