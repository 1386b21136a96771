"""Several zones' rows written with one SQLite statement per table, not one per row.

The group commit (activities/group_writer.py) puts the rows of every act waiting at one moment
into one transaction. Written zone by zone, row by row, that was eleven statements a zone in
the national bench's formation, and the CPython sqlite3 module gives up the GIL for every one
of them and must wait for it again: up to the interpreter's switch interval (5 ms) each time,
while the worker's threads run the workflows. The flush spent 0.6 ms of CPU per zone and
4.5 ms of wall time, and the acts waited for it (bench/README item 21). Here the batch's rows
of each table travel as one JSON array, which SQLite's `json_each` unpacks inside the
statement: a batch costs a fixed dozen statements whatever its size.

The rules are write_rows' (kenflow/db/projection.py), decided here in Python under the same
lock: the batch's zone rows are read once, after a write that takes SQLite's write lock, then
each zone is written only where the stored version is not newer, its child tables only where
their digest changed, and a zone whose read model lacks a table it left out fails alone with
BaseMissing, writing nothing. Values go through each column's bind processor as the driver
does (kenflow/db/driver.py), so what is stored is what write_rows stores; SQLite reads the
JSON's numbers back exactly (tests/test_rows_together.py checks floats and text).

Anything else goes zone by zone (None): another database, a zone twice in one batch, rows of
one table whose columns differ, text with a NUL character (which JSON text in SQLite cannot
carry).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from models.projection import BaseMissing
from models.read_rows import ProjectionRows, Row

from .driver import Prepared, prepare
from .projection import AUDIT, CHILDREN, NOTICE, ZONE, ZONE_COLUMNS, _typed, _zone_values, write_rows
from .tables import utcnow

_IDS = "(SELECT value FROM json_each(?))"


def _unpacked(prepared: Prepared) -> tuple[str, str]:
    """The column list and the SELECT list that read each row's values out of its JSON array."""
    names = [s.name for s in prepared.slots]
    columns = ", ".join(f'"{n}"' for n in names)
    values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
    return columns, values


class _Table(NamedTuple):
    """An INSERT .. SELECT from one JSON array of rows, for rows with `keys`."""

    prepared: Prepared
    sql: str


@cache
def _insert(table: Table, keys: tuple[str, ...], dialect: Dialect, conflict: str) -> _Table | None:
    prepared = prepare(sa.insert(table), dialect, keys)
    if prepared is None or not prepared.positional or any(s.name not in keys for s in prepared.slots):
        return None
    columns, values = _unpacked(prepared)
    # WHERE true: SQLite would read ON CONFLICT as the join's ON without it
    sql = f'INSERT INTO "{table.name}" ({columns}) SELECT {values} FROM json_each(?) WHERE true {conflict}'
    return _Table(prepared, sql)


def _zone_conflict(keep: bool) -> str:
    skip = {"id"} | ({"updated_at"} if keep else set())
    sets = ", ".join(f'"{c}" = excluded."{c}"' for c in ZONE_COLUMNS if c not in skip)
    return f'ON CONFLICT (id) DO UPDATE SET {sets} WHERE "zone".version <= excluded.version'


AUDIT_CONFLICT = "ON CONFLICT (zone_id, seq) DO NOTHING"
NOTICE_CONFLICT = (
    "ON CONFLICT (key) DO UPDATE SET status = excluded.status, failure = excluded.failure "
    "WHERE \"notice\".status = 'pending' AND excluded.status = 'failed'"
)


class _Rows:
    """One table's rows for the batch, processed and packed as the statement's one parameter."""

    def __init__(self, table: Table, dialect: Dialect, conflict: str = "") -> None:
        self.table, self.dialect, self.conflict = table, dialect, conflict
        self.rows: list[Row] = []

    def packed(self) -> tuple[str, str] | None:
        """(sql, JSON) for the rows, or None when they cannot go as one statement."""
        keys = tuple(self.rows[0])
        if any(tuple(r) != keys for r in self.rows[1:]):
            return None
        insert = _insert(self.table, keys, self.dialect, self.conflict)
        if insert is None:
            return None
        try:  # a value JSON cannot carry exactly (NaN, bytes, ...) goes zone by zone
            text = json.dumps(
                [insert.prepared.values(r) for r in self.rows], ensure_ascii=False, allow_nan=False
            )
        except (TypeError, ValueError):
            return None
        return (insert.sql, text) if "\\u0000" not in text else None


def write_rows_together(
    conn: Connection, batch: Sequence[ProjectionRows], now: datetime | None = None
) -> list[bool | BaseMissing] | None:
    """Each zone's write_rows outcome (True written, False a newer version is stored, or the
    BaseMissing it raised), having written the batch inside the caller's transaction; None,
    having written nothing, where the batch must go zone by zone."""
    dialect = conn.dialect
    ids = [r.zone_id for r in batch]
    if dialect.name != "sqlite" or len(set(ids)) != len(ids):
        return None
    packed_ids = json.dumps(ids, ensure_ascii=False)
    if "\\u0000" in packed_ids:
        return None
    # A write first, so the read below happens under SQLite's write lock (write_rows' reason).
    conn.exec_driver_sql(f"UPDATE zone SET version = version WHERE id IN {_IDS}", (packed_ids,))
    heads = conn.exec_driver_sql(
        f"SELECT json_group_array(json_array(id, version, digest)) FROM zone WHERE id IN {_IDS}",
        (packed_ids,),
    ).scalar_one()
    stored = {zid: (version, digest or "") for zid, version, digest in json.loads(heads)}

    zones = {keep: _Rows(ZONE, dialect, _zone_conflict(keep)) for keep in (False, True)}
    audit, notices = _Rows(AUDIT, dialect, AUDIT_CONFLICT), _Rows(NOTICE, dialect, NOTICE_CONFLICT)
    children = {name: _Rows(child.table, dialect) for name, child in CHILDREN.items()}
    replaced: dict[str, list[str]] = {name: [] for name in CHILDREN}
    out: list[bool | BaseMissing] = []
    for rows in batch:
        outcome = _plan(rows, stored.get(rows.zone_id), now, zones, children, replaced)
        out.append(outcome)
        if isinstance(outcome, BaseMissing):
            continue
        audit.rows.extend(_typed(AUDIT, rows.audit))
        notices.rows.extend(_typed(NOTICE, rows.notices))

    statements: list[tuple[str, str]] = []
    for name, zone_ids in replaced.items():
        if zone_ids:
            table = CHILDREN[name].table.name
            statements.append((f'DELETE FROM "{table}" WHERE zone_id IN {_IDS}', json.dumps(zone_ids)))
    for part in (*zones.values(), *children.values(), audit, notices):
        if not part.rows:
            continue
        packed = part.packed()
        if packed is None:
            return None  # nothing written yet but the lock's no-op: the caller goes zone by zone
        statements.append(packed)
    # The zone rows go before their children and notices, as write_rows writes them; the
    # deletes before the inserts that replace them.
    deletes = [s for s in statements if s[0].startswith("DELETE")]
    inserts = [s for s in statements if not s[0].startswith("DELETE")]
    for sql, param in deletes + inserts:
        conn.exec_driver_sql(sql, (param,))
    return out


def _plan(
    rows: ProjectionRows,
    stored: tuple[int, str] | None,
    now: datetime | None,
    zones: dict[bool, _Rows],
    children: dict[str, _Rows],
    replaced: dict[str, list[str]],
) -> bool | BaseMissing:
    """What write_rows would do for this zone, added to the batch's rows; its outcome."""
    if stored is not None and stored[0] > rows.version:
        return False  # a newer version is stored: audit rows and notices only
    digest = json.dumps(rows.digests)
    if not (rows.children == {} and stored is not None and stored[1] == digest):
        old = _digests(stored[1] if stored else "")
        missing = sorted(n for n, d in rows.digests.items() if old.get(n) != d and n not in rows.children)
        if missing:
            return BaseMissing(
                f"read model of {rows.zone_id} (version {stored[0] if stored else None}) does not "
                f"hold the {', '.join(missing)} rows the zone last sent"
            )
        for name, d in rows.digests.items():
            if old.get(name) != d:
                replaced[name].append(rows.zone_id)
                children[name].rows.extend(_typed(CHILDREN[name].table, rows.children[name]))
    values = _zone_values(rows, now or utcnow())
    values["digest"] = digest
    zones[not rows.audit].rows.append(values)
    return True


def _digests(text: str) -> dict[str, str]:
    try:
        return json.loads(text) if text else {}  # type: ignore[no-any-return]
    except ValueError:
        return {}


class RowsWrite:
    """One zone's write_rows, which `together` can join with other zones' in one statement
    per table (the group commit's Write)."""

    def __init__(self, rows: ProjectionRows) -> None:
        self.rows = rows

    def __call__(self, conn: Connection) -> bool:
        return write_rows(conn, self.rows)


def together(conn: Connection, writes: Sequence[Any]) -> list[bool | BaseMissing] | None:
    """kenflow/db/engine.py write_together's hook: the batch at once where every write is a
    RowsWrite and write_rows_together takes it; None otherwise."""
    if not all(isinstance(w, RowsWrite) for w in writes):
        return None
    return write_rows_together(conn, [w.rows for w in writes])
