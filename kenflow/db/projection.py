"""Writing a zone's state into the read model: one transaction per projection.

Zones send the rows themselves (ProjectionRows, models/read_rows.py: `write_rows`); zones whose
histories predate that send their state (ProjectionInput: `write_projection`), whose rows are
built here by the same functions. Both follow the rules below.

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
- The zone row keeps a digest per child table (of its rows), so a child table whose rows did
  not change is not rewritten (most acts touch one, if any).
- Audit rows (one per timeline entry) are inserted ON CONFLICT (zone_id, seq) DO NOTHING and
  notices ON CONFLICT (key) DO NOTHING, except that a notice the workflow has given up on
  (failed) marks a still-pending row failed. A delivered row is never touched. Both happen
  even for a stale version, since timeline entries and notices only accumulate.
- A delta projection (models/projection.py) keeps the KPI actuals and yearly reviews the read
  model holds as of `kept.base_version`: they are read back from the row read under the lock,
  and a read model without that base raises BaseMissing (the zone then sends its whole state).
  ProjectionRows leave out the child tables whose digest did not change since the zone's last
  projection; a read model whose digest of one of them differs raises BaseMissing likewise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection, Table

from models.kpi import KpiActual
from models.notice import NoticeStatus
from models.projection import BaseMissing, ProjectionInput
from models.read_rows import (
    CHILD_ROWS,
    ProjectionRows,
    Row,
    audit_rows,
    child_digests,
    child_rows,
    notice_rows,
    state_zlib,
    stored_json,
    zone_columns,
)
from models.zone import FiscalYearReview, ZoneState

from . import driver
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


def _t(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


ZONE, AUDIT, NOTICE = _t(ZoneRow), _t(AuditRow), _t(NoticeRow)


# --------------------------------------------------------------------------- rows from the state


# The child tables of models.read_rows.CHILD_ROWS.
CHILDREN: dict[str, Table] = {
    "member": _t(ZoneMemberRow),
    "agreement": _t(AgreementRow),
    "vision": _t(VisionRow),
    "kpi": _t(KpiRow),
    "kpi_evaluation": _t(KpiEvaluationRow),
}
assert CHILDREN.keys() == CHILD_ROWS.keys()


def zone_row(state: ZoneState, version: int, updated_at: datetime) -> Row:
    return zone_columns(state) | {
        "version": version,
        "updated_at": updated_at,
        "digest": "",
        "state_zlib": state_zlib(state),
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
        )
        # The zone row alone, where the read model holds the same child digests (write_rows'
        # fast path): an UPDATE, so a zone the read model lacks is never created without them.
        out[f"zone update{keep}"] = (
            sa.update(ZONE)
            .where(
                ZONE.c.id == sa.bindparam("w_id"),
                ZONE.c.version <= sa.bindparam("w_version"),
                ZONE.c.digest == sa.bindparam("w_digest"),
            )
            .values({c: sa.bindparam(f"v_{c}", type_=ZONE.c[c].type) for c in ZONE_COLUMNS if c not in skip})
        )
    out["audit"] = ins(AUDIT).on_conflict_do_nothing(index_elements=[AUDIT.c.zone_id, AUDIT.c.seq])
    zone_id = sa.bindparam("zone_id")
    for name, table in CHILDREN.items():
        out[f"delete {name}"] = sa.delete(table).where(table.c.zone_id == zone_id)
        out[f"insert {name}"] = sa.insert(table)
    # "stored" with the state for a delta's kept sections; "stored head" without it for rows,
    # which need only the version and the digests (a bulk-imported zone's state is MBs).
    for name, stored in (
        ("stored", (ZONE.c.version, ZONE.c.digest, ZONE.c.state_zlib)),
        ("stored head", (ZONE.c.version, ZONE.c.digest)),
    ):
        if dialect == "postgresql":
            out[name] = sa.select(*stored).where(ZONE.c.id == zone_id).with_for_update()
        else:
            # A write that changes nothing takes SQLite's write lock and reads the row at once:
            # a read transaction that another writer commits under could not be upgraded later
            # (SQLITE_BUSY, which no timeout waits out).
            out[name] = (
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
    state_zlib: bytes


def _stored(conn: Connection, zone_id: str, *, state: bool = True) -> Stored | None:
    """The zone's stored row, locked for the rest of the transaction (PostgreSQL's row lock,
    SQLite's write lock), so two projections of one zone never interleave; `state_zlib` is b""
    unless `state`."""
    stmt = _statements(conn.dialect.name)["stored" if state else "stored head"]
    row = driver.first(conn, stmt, {"zone_id": zone_id})
    return None if row is None else Stored(row[0], row[1] or "", row[2] if state else b"")


def _digests_of(stored: Stored | None) -> dict[str, str]:
    try:
        return json.loads(stored.digest) if stored and stored.digest else {}  # type: ignore[no-any-return]
    except ValueError:
        return {}


def _write_zone(
    conn: Connection,
    zone_id: str,
    row: Row,
    digests: dict[str, str],
    old: dict[str, str],
    keep: bool,
    rows_of: Callable[[str], list[Row]],
) -> bool:
    """The zone row, with the digests of its children, and the child tables whose digest
    differs from the stored one (`old`); False when a newer version is stored (nothing written)."""
    row["digest"] = json.dumps(digests)
    stmts = _statements(conn.dialect.name)
    if not driver.execute(conn, stmts[f"zone{keep}"], [row]):
        return False  # a newer first projection of a new zone won the race (PostgreSQL)
    for name, digest in digests.items():
        if old.get(name) == digest:
            continue
        driver.execute(conn, stmts[f"delete {name}"], [{"zone_id": zone_id}])
        driver.execute(conn, stmts[f"insert {name}"], rows_of(name))
    return True


def _insert_audit(conn: Connection, rows: list[Row]) -> None:
    driver.execute(conn, _statements(conn.dialect.name)["audit"], rows)


def insert_notices(conn: Connection, rows: list[Row]) -> None:
    """Insert notices the read model does not hold yet (the sender may get one before its
    projection lands); an existing row changes only from pending to failed."""
    driver.execute(conn, _statements(conn.dialect.name)["notice"], rows)


class _StoredSections(BaseModel):
    """The two sections a delta keeps, read out of a stored state (the rest is skipped)."""

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
    # pydantic parses only these two sections in Python
    sections = _StoredSections.model_validate_json(stored_json(stored.state_zlib))
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
        built = child_rows(state)
        written = _write_zone(
            conn,
            inp.zone_id,
            row,
            child_digests(built),
            _digests_of(stored),
            not entries,
            built.__getitem__,
        )
    _insert_audit(conn, audit_rows(inp.zone_id, entries))
    insert_notices(conn, notice_rows(state or inp.state))
    return written


def project(engine: sa.Engine, inp: ProjectionInput) -> bool:
    """write_projection in a transaction of its own."""
    with writing(engine) as conn:
        return write_projection(conn, inp)


# --------------------------------------------------------------------------- rows from the zone


@cache
def _parsers(table: Table) -> dict[str, Callable[[str], Any]]:
    """The columns of `table` whose values travel as ISO text in a ProjectionRows."""
    out: dict[str, Callable[[str], Any]] = {}
    for c in table.columns:
        try:  # a TypeDecorator (UTCDateTime) says `object`: ask the type it decorates
            kind = getattr(c.type, "impl_instance", c.type).python_type
        except NotImplementedError:
            continue
        if kind is datetime:
            out[c.name] = datetime.fromisoformat
        elif kind is date:
            out[c.name] = date.fromisoformat
    return out


def _typed(table: Table, rows: list[Row]) -> list[Row]:
    """The decoded rows with their dates and datetimes restored (in place)."""
    parsers = _parsers(table)
    for r in rows:
        for name, parse in parsers.items():
            v = r.get(name)
            if isinstance(v, str):
                r[name] = parse(v)
    return rows


def write_rows(conn: Connection, rows: ProjectionRows, now: datetime | None = None) -> bool:
    """Apply rows a zone built itself (ProjectionRows), inside the caller's transaction; the same
    rules as write_projection: newest version wins, audit rows and notices only accumulate.

    Most acts change no child table: their zone row is written by one UPDATE that holds only
    where the stored row is older and keeps the very digests the zone sends, which is all the
    general path would have checked, and which locks the row as its first read does. Where it
    matches no row (a newer version stored, digests that differ, no zone yet), the general path
    runs as before, in the same transaction."""
    written = bool(not rows.children and _update_zone(conn, rows, now))
    if not written:
        written = _write_rows(conn, rows, now)
    _insert_audit(conn, _typed(AUDIT, rows.audit))
    insert_notices(conn, _typed(NOTICE, rows.notices))
    return written


def _zone_values(rows: ProjectionRows, now: datetime | None) -> Row:
    return _typed(ZONE, [dict(rows.zone)])[0] | {
        "version": rows.version,
        "updated_at": rows.updated_at or now or utcnow(),
        "state_zlib": rows.state_json_zlib,  # stored as the zone compressed it
    }


def _update_zone(conn: Connection, rows: ProjectionRows, now: datetime | None) -> bool:
    keep = not rows.audit
    values = _zone_values(rows, now) | {"digest": json.dumps(rows.digests)}
    params = {f"v_{c}": v for c, v in values.items() if c != "id" and not (keep and c == "updated_at")}
    params |= {"w_id": rows.zone_id, "w_version": rows.version, "w_digest": params["v_digest"]}
    return driver.execute(conn, _statements(conn.dialect.name)[f"zone update{keep}"], [params]) > 0


def rows_base(rows: ProjectionRows, stored: Stored | None) -> dict[str, str]:
    """The stored child tables' digests the zone's rows build on; BaseMissing where the read
    model's digest of a table the rows leave out differs from the zone's."""
    old = _digests_of(stored)
    missing = sorted(n for n, d in rows.digests.items() if old.get(n) != d and n not in rows.children)
    if missing:
        raise BaseMissing(
            f"read model of {rows.zone_id} (version {stored.version if stored else None}) does not "
            f"hold the {', '.join(missing)} rows the zone last sent"
        )
    return old


def _write_rows(conn: Connection, rows: ProjectionRows, now: datetime | None) -> bool:
    stored = _stored(conn, rows.zone_id, state=False)
    written = False
    if stored is None or stored.version <= rows.version:
        old = rows_base(rows, stored)
        written = _write_zone(
            conn,
            rows.zone_id,
            _zone_values(rows, now),
            rows.digests,
            old,
            not rows.audit,
            lambda n: _typed(CHILDREN[n], rows.children[n]),
        )
    return written


def project_rows(engine: sa.Engine, rows: ProjectionRows) -> bool:
    """write_rows in a transaction of its own."""
    with writing(engine) as conn:
        return write_rows(conn, rows)
