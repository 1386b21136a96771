"""Writing a zone's state into the read model: one transaction per ProjectionInput.

Runs after every accepted act, so it is built for few statements (three for most acts: read
and lock, zone row, audit row), each a prebuilt Core statement (no ORM flush), multi-row where
it inserts.

Ordering and idempotency:
- The first statement reads the stored zone row and locks it for the rest of the transaction
  (SELECT .. FOR UPDATE on PostgreSQL; on SQLite an UPDATE that changes nothing, RETURNING the
  row, which takes the write lock), so two projections of one zone never interleave. The row
  is then written with INSERT .. ON CONFLICT DO UPDATE .. WHERE stored version <= new version
  (which also settles two first projections of a new zone racing on PostgreSQL), so an older
  version arriving late changes nothing. Equal versions are rewritten because a notice's
  status can change without a version bump.
- The zone row keeps a digest per child table (of the state's sections its rows come from), so
  a child table whose rows did not change is not rewritten (most acts touch one, if any).
- Audit rows (one per timeline entry) are inserted ON CONFLICT (zone_id, seq) DO NOTHING and
  notices ON CONFLICT (key) DO NOTHING, except that a notice the workflow has given up on
  (failed) marks a still-pending row failed. A delivered row is never touched. Both happen
  even for a stale version, since timeline entries and notices only accumulate.
- A delta projection (models/projection.py) keeps the KPI actuals and yearly reviews the read
  model holds as of `kept.base_version`: they are read back from the row read under the lock,
  and a read model without that base raises BaseMissing (the zone then sends its whole state).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection, Table

from models.kpi import KpiActual
from models.notice import Notice, NoticeStatus
from models.projection import BaseMissing, ProjectionInput
from models.zone import AgreementStatus, FiscalYearReview, TimelineEntry, ZoneState

from .dialect import insert_for
from .engine import writing
from .tables import (
    AgreementRow,
    AuditRow,
    KpiEvaluationRow,
    KpiRow,
    NoticeRow,
    VisionRow,
    ZoneMemberRow,
    ZoneRow,
    utcnow,
)

Row = dict[str, Any]


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


ZONE, AUDIT, NOTICE = _t(ZoneRow), _t(AuditRow), _t(NoticeRow)
LIVE = (AgreementStatus.concluded, AgreementStatus.abolition_pending)


# --------------------------------------------------------------------------- rows from the state


def zone_row(state: ZoneState, version: int, updated_at: datetime) -> Row:
    vision, published = state.vision, state.published_vision
    checked = [r for r in state.reviews.values() if r.check_on is not None]
    latest_check = max(checked, key=lambda r: r.fy) if checked else None
    in_force = published or vision
    return {
        "id": state.zone_id,
        "name": state.name,
        "programme": state.programme.value,
        "phase": state.phase.value,
        "central_codes": ",".join(state.central_codes),
        "prefecture_codes": "," + ",".join(state.prefecture_codes()) + ",",
        "single_city": state.single_city,
        "declared_on": state.declaration.declared_on if state.declaration else None,
        "formed_on": state.formed_on,
        "ended_on": state.ended_on,
        "vision_version": vision.version if vision else None,
        "vision_status": vision.status.value if vision else None,
        "vision_period_end_fy": in_force.period_end_fy if in_force else None,
        "current_fy": state.current_fy,
        "kpi_behind": len(latest_check.highlighted) if latest_check else 0,
        "notices_failed": sum(1 for n in state.notices if n.status is NoticeStatus.failed),
        "version": version,
        "updated_at": updated_at,
        "digest": "",
        "state_json": state.model_dump_json(exclude={"timeline"}),
    }


def member_rows(state: ZoneState) -> list[Row]:
    rows: dict[str, Row] = {}
    for m in state.central_cities:
        rows[m.code] = {
            "zone_id": state.zone_id,
            "municipality_code": m.code,
            "name": m.name,
            "role": "central",
            "prefecture_code": m.prefecture_code,
            "agreement_status": None,
        }
    for code, ag in state.agreements.items():
        if code not in rows:
            rows[code] = {
                "zone_id": state.zone_id,
                "municipality_code": code,
                "name": ag.neighbour.name,
                "role": "neighbour",
                "prefecture_code": ag.neighbour.prefecture_code,
                "agreement_status": ag.status.value,
            }
    return list(rows.values())


def agreement_rows(state: ZoneState) -> list[Row]:
    return [
        {
            "zone_id": state.zone_id,
            "neighbour_code": code,
            "neighbour_name": ag.neighbour.name,
            "hub_code": ag.hub_code,
            "title": ag.title,
            "status": ag.status.value,
            "version": ag.version,
            "drafted_on": ag.drafted_on,
            "concluded_on": ag.concluded_on,
            "abolition_effective_on": ag.abolition.effective_on if ag.abolition else None,
            "ended_on": ag.ended_on,
            "cross_prefecture": ag.neighbour.prefecture_code != ag.hub_code[:2],
        }
        for code, ag in state.agreements.items()
    ]


def vision_rows(state: ZoneState) -> list[Row]:
    rows = {
        v.version: {
            "zone_id": state.zone_id,
            "version": v.version,
            "title": v.title,
            "status": v.status.value,
            "revision": v.revision,
            "drafted_on": v.drafted_on,
            "published_on": v.published_on,
            "period_start_fy": v.period_start_fy,
            "period_end_fy": v.period_end_fy,
        }
        for v in state.visions
    }
    return list(rows.values())


def kpi_rows(state: ZoneState) -> list[Row]:
    out = []
    for k in state.kpis.values():
        t = k.current
        out.append(
            {
                "zone_id": state.zone_id,
                "kpi_id": k.id,
                "name": k.name,
                "perspective": k.perspective.value,
                "field": k.field,
                "unit": k.unit,
                "kind": k.kind.value,
                "target_version": t.version,
                "baseline_value": t.baseline.value,
                "baseline_fy": t.baseline.fy,
                "target_value": t.target.value,
                "target_fy": t.target.fy,
            }
        )
    return out


def evaluation_rows(state: ZoneState) -> list[Row]:
    rows: dict[tuple[str, int], Row] = {}
    for review in state.reviews.values():
        for e in review.evaluations:
            rows[(e.kpi_id, e.fy)] = {
                "zone_id": state.zone_id,
                "kpi_id": e.kpi_id,
                "fy": e.fy,
                "target_version": e.target_version,
                "actual": e.actual,
                "estimate": e.estimate,
                "achievement_rate": e.achievement_rate,
                "expected_value": e.expected_value,
                "status": e.status.value,
                "grade": e.grade,
            }
    return list(rows.values())


def audit_rows(zone_id: str, entries: Iterable[TimelineEntry]) -> list[Row]:
    rows = {
        e.seq: {
            "zone_id": zone_id,
            "seq": e.seq,
            "at": e.at,
            "on": e.on,
            "act": e.act,
            "actor_role": e.actor.role.value,
            "actor_code": e.actor.code,
            "actor_name": e.actor.name,
            "summary": e.summary,
            "result": "accepted",
        }
        for e in entries
    }
    return list(rows.values())


def notice_row(n: Notice) -> Row:
    return {
        "key": n.key,
        "zone_id": n.zone_id,
        "document": n.document,
        "version": n.version,
        "recipient": n.recipient,
        "kind": n.kind.value,
        "subject": n.subject,
        "body": n.body,
        "created_at": n.created_at,
        "status": n.status.value,
        "failure": n.failure,
        "delivered_at": None,
        "attempts": 0,
    }


def notice_rows(state: ZoneState) -> list[Row]:
    rows = {n.key: notice_row(n) for n in state.notices if n.status is not NoticeStatus.delivered}
    return list(rows.values())


class Child(NamedTuple):
    """A table of rows derived from the state, rewritten whole when they change."""

    table: Table
    rows: Callable[[ZoneState], list[Row]]
    # The state's fields its rows come from (pydantic's include=): when they serialize to the
    # same bytes as last time the rows are the same, so neither rows nor statements are built.
    sections: Any


CHILDREN: dict[str, Child] = {
    "member": Child(_t(ZoneMemberRow), member_rows, {"central_cities", "agreements"}),
    "agreement": Child(_t(AgreementRow), agreement_rows, {"agreements"}),
    "vision": Child(_t(VisionRow), vision_rows, {"visions"}),
    "kpi": Child(_t(KpiRow), kpi_rows, {"kpis"}),
    "kpi_evaluation": Child(_t(KpiEvaluationRow), evaluation_rows, {"reviews": {"__all__": {"evaluations"}}}),
}


def child_digests(state: ZoneState) -> dict[str, str]:
    """One digest per child table, of the state's sections its rows come from (serialized by
    pydantic in Rust, which costs a fraction of building and digesting the rows themselves)."""
    to_json = state.__pydantic_serializer__.to_json
    return {
        name: hashlib.blake2b(to_json(state, include=child.sections), digest_size=12).hexdigest()
        for name, child in CHILDREN.items()
    }


# --------------------------------------------------------------------------- writing


ZONE_COLUMNS = [c.name for c in ZONE.columns]


@cache
def _statements(dialect: str) -> dict[str, Any]:
    """Statements built once per dialect: `excluded` makes a new alias each time it is read,
    which cost more than the database round trip."""

    def ins(table: Table) -> Any:
        return insert_for(dialect, table)

    out: dict[str, Any] = {}
    for keep in (False, True):
        stmt = ins(ZONE)
        skip = {"id"} | ({"updated_at"} if keep else set())
        out[f"zone{keep}"] = stmt.on_conflict_do_update(
            index_elements=[ZONE.c.id],
            set_={c: stmt.excluded[c] for c in ZONE_COLUMNS if c not in skip},
            where=ZONE.c.version <= stmt.excluded.version,
        ).returning(ZONE.c.version)
    out["audit"] = ins(AUDIT).on_conflict_do_nothing(index_elements=[AUDIT.c.zone_id, AUDIT.c.seq])
    zone_id = sa.bindparam("zone_id")
    for name, child in CHILDREN.items():
        out[f"delete {name}"] = sa.delete(child.table).where(child.table.c.zone_id == zone_id)
        out[f"insert {name}"] = sa.insert(child.table)
    stored = (ZONE.c.version, ZONE.c.digest, ZONE.c.state_json)
    if dialect == "postgresql":
        out["stored"] = sa.select(*stored).where(ZONE.c.id == zone_id).with_for_update()
    else:
        # A write that changes nothing takes SQLite's write lock and reads the row at once: a
        # read transaction that another writer commits under could not be upgraded later
        # (SQLITE_BUSY, which no timeout waits out).
        out["stored"] = (
            sa.update(ZONE).where(ZONE.c.id == zone_id).values(version=ZONE.c.version).returning(*stored)
        )
    stmt = ins(NOTICE)
    out["notice"] = stmt.on_conflict_do_update(
        index_elements=[NOTICE.c.key],
        set_={"status": stmt.excluded.status, "failure": stmt.excluded.failure},
        where=(NOTICE.c.status == NoticeStatus.pending.value)
        & (stmt.excluded.status == NoticeStatus.failed.value),
    )
    return out


class Stored(NamedTuple):
    version: int
    digest: str
    state_json: str


def _stored(conn: Connection, zone_id: str) -> Stored | None:
    """The zone's stored row, locked for the rest of the transaction (PostgreSQL's row lock,
    SQLite's write lock), so two projections of one zone never interleave."""
    row = conn.execute(_statements(conn.dialect.name)["stored"], {"zone_id": zone_id}).first()
    return None if row is None else Stored(row.version, row.digest or "", row.state_json)


def _write_zone(conn: Connection, state: ZoneState, row: Row, stored: Stored | None, keep: bool) -> bool:
    """The zone row, with the digests of its children, and the child tables whose digest
    changed; False when a newer version is stored (nothing written)."""
    try:
        old: dict[str, str] = json.loads(stored.digest) if stored and stored.digest else {}
    except ValueError:
        old = {}
    new = child_digests(state)
    row["digest"] = json.dumps(new)
    stmts = _statements(conn.dialect.name)
    if conn.execute(stmts[f"zone{keep}"], row).first() is None:
        return False  # a newer first projection of a new zone won the race (PostgreSQL)
    for name, digest in new.items():
        if old.get(name) == digest:
            continue
        conn.execute(stmts[f"delete {name}"], {"zone_id": state.zone_id})
        rows = CHILDREN[name].rows(state)
        if rows:
            conn.execute(stmts[f"insert {name}"], rows)
    return True


def _insert_audit(conn: Connection, rows: list[Row]) -> None:
    if rows:
        conn.execute(_statements(conn.dialect.name)["audit"], rows)


def insert_notices(conn: Connection, rows: list[Row]) -> None:
    """Insert notices the read model does not hold yet (the sender may get one before its
    projection lands); an existing row changes only from pending to failed."""
    if rows:
        conn.execute(_statements(conn.dialect.name)["notice"], rows)


class _StoredSections(BaseModel):
    """The two sections a delta keeps, read out of a stored state_json (the rest is skipped)."""

    actuals: list[KpiActual] = []
    reviews: dict[int, FiscalYearReview] = {}


def with_kept_sections(inp: ProjectionInput, stored: Stored | None) -> ZoneState | None:
    """The whole state of a delta projection: what it sent, plus the KPI actuals and yearly
    reviews the read model already holds as of `kept.base_version`. None when the stored
    version is already this one or newer and is not the base (a retry after a commit, or an
    overtaken projection: nothing to write); BaseMissing when the base is not there."""
    kept = inp.kept
    assert kept is not None
    if stored is not None and stored.version != kept.base_version and stored.version >= inp.version:
        return None
    if stored is None or stored.version != kept.base_version:
        raise BaseMissing(
            f"read model holds version {stored.version if stored else None} of {inp.zone_id}, "
            f"not the base {kept.base_version}"
        )
    sections = _StoredSections.model_validate_json(stored.state_json)  # parses only these two in Python
    actuals = sections.actuals[: kept.actuals]
    old = {fy: sections.reviews[fy] for fy in kept.reviews if fy in sections.reviews}
    if len(actuals) != kept.actuals or len(old) != len(kept.reviews):
        raise BaseMissing(f"read model of {inp.zone_id} lacks sections the projection keeps")
    reviews = old | inp.state.reviews
    return inp.state.model_copy(
        update={
            "actuals": actuals + inp.state.actuals,
            "reviews": {fy: reviews[fy] for fy in kept.review_order if fy in reviews},
        }
    )


def write_projection(conn: Connection, inp: ProjectionInput, now: datetime | None = None) -> bool:
    """Apply one projection inside the caller's transaction; True if the zone row was written,
    False if a newer version was already there (only audit rows and notices were added)."""
    stored = _stored(conn, inp.zone_id)
    state: ZoneState | None = inp.state if inp.kept is None else with_kept_sections(inp, stored)
    entries = sorted(inp.timeline, key=lambda e: e.seq)
    written = False
    if state is not None and (stored is None or stored.version <= inp.version):
        updated_at = entries[-1].at if entries else (now or utcnow())
        row = zone_row(state, inp.version, updated_at)
        written = _write_zone(conn, state, row, stored, keep=not entries)
    _insert_audit(conn, audit_rows(inp.zone_id, entries))
    insert_notices(conn, notice_rows(state or inp.state))
    return written


def project(engine: sa.Engine, inp: ProjectionInput) -> bool:
    """write_projection in a transaction of its own."""
    with writing(engine) as conn:
        return write_projection(conn, inp)
