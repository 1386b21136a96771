"""Several zones' rows written with one SQLite statement per table, not one per row.

The group commit (activities/group_writer.py) puts the rows of every act waiting at one moment
into one transaction. Written zone by zone, row by row, that was eleven statements a zone in
the national bench's formation, and the CPython sqlite3 module gives up the GIL for every one
of them and must wait for it again: up to the interpreter's switch interval (5 ms) each time,
while the worker's threads run the workflows. The flush spent 0.6 ms of CPU per zone and
4.5 ms of wall time, and the acts waited for it (bench/README item 21). Here the batch's child
tables, audit rows and copies travel as one JSON array per table, which SQLite's `json_each`
unpacks inside the statement. The zone rows still go one by one (write_rows' fast path is one
UPDATE, and the zone's compressed state is bytes, which JSON cannot carry).

The rules are write_rows' (kenflow/db/projection.py), decided here in Python under the same
lock: a zone is written only where the stored version is not newer, its child tables only where
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

from . import driver
from .driver import Prepared, prepare
from .projection import (
    AUDIT,
    CHILDREN,
    NOTICE,
    Stored,
    _statements,
    _typed,
    _update_zone,
    _zone_values,
    rows_base,
    write_rows,
)

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


# The rules of projection.py's "audit" and "notice" statements (_statements), in SQLite's words:
# audit rows only accumulate; a copy's row changes only from pending to failed.
AUDIT_CONFLICT = "ON CONFLICT (zone_id, seq) DO NOTHING"
NOTICE_CONFLICT = (
    "ON CONFLICT (key) DO UPDATE SET status = excluded.status, failure = excluded.failure "
    "WHERE \"notice\".status = 'pending' AND excluded.status = 'failed'"
)


def packed(dialect: Dialect, table: Table, rows: Sequence[Row], conflict: str = "") -> tuple[str, str] | None:
    """(sql, JSON): `rows` inserted into `table` by one INSERT .. SELECT over the JSON, ending in
    `conflict` (an ON CONFLICT clause or ""); None where they cannot go so (not SQLite, rows
    whose columns differ, a value JSON cannot carry exactly, text with a NUL character)."""
    if dialect.name != "sqlite" or not rows:
        return None
    keys = tuple(rows[0])
    if any(tuple(r) != keys for r in rows[1:]):
        return None
    insert = _insert(table, keys, dialect, conflict)
    if insert is None:
        return None
    try:  # NaN, bytes, ...
        text = json.dumps([insert.prepared.values(r) for r in rows], ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return (insert.sql, text) if "\\u0000" not in text else None


def run(conn: Connection, sql: str, *params: Any) -> Any:
    """One statement, with its JSON parameter and any others, on the driver's cursor (no
    SQLAlchemy execution machinery: a batch runs a dozen); its first row, if any."""
    with driver.run(conn, sql, params) as cursor:
        return cursor.fetchone()


def in_json(column: str) -> str:
    """`column IN` the values of a JSON array, the statement's parameter."""
    return f"{column} IN {_IDS}"


def write_rows_together(
    conn: Connection, batch: Sequence[ProjectionRows], now: datetime | None = None
) -> list[bool | BaseMissing] | None:
    """Each zone's write_rows outcome (True written, False a newer version is stored, or the
    BaseMissing it raised), having written the batch inside the caller's transaction; None,
    having written nothing, where the batch must go zone by zone.

    The zone rows go one by one, as write_rows writes them: most acts change no child table,
    and their zone row is one UPDATE that also says whether the read model holds what the zone
    last sent; the row carries the zone's compressed state, bytes that JSON cannot carry. The
    rest is packed per table: the child tables replaced, the audit rows and the copies, one
    statement each for the batch."""
    dialect = conn.dialect
    ids = [r.zone_id for r in batch]
    if dialect.name != "sqlite" or len(set(ids)) != len(ids):
        return None
    packs = [_Parts.of(dialect, rows) for rows in batch]  # packed before anything is written
    parts = [p for p in packs if p is not None]
    if len(parts) != len(packs):
        return None
    out: dict[str, bool | BaseMissing] = {}
    for rows in batch:  # write_rows' fast path; its UPDATE takes SQLite's write lock
        if not rows.children and _update_zone(conn, rows, now):
            out[rows.zone_id] = True
    rest = [r for r in batch if r.zone_id not in out]
    replaced: dict[str, list[str]] = {name: [] for name in CHILDREN}
    if rest:
        packed_ids = json.dumps([r.zone_id for r in rest], ensure_ascii=False)
        if not out:  # a write first, so the read below is under the write lock (write_rows' reason)
            run(conn, f"UPDATE zone SET version = version WHERE {in_json('id')}", packed_ids)
        (heads,) = run(
            conn,
            f"SELECT json_group_array(json_array(id, version, digest)) FROM zone WHERE {in_json('id')}",
            packed_ids,
        )
        stored = {zid: Stored(version, digest or "", b"") for zid, version, digest in json.loads(heads)}
        for rows in rest:
            out[rows.zone_id] = _write_zone_row(conn, rows, stored.get(rows.zone_id), now, replaced)
    statements = [
        (f'DELETE FROM "{CHILDREN[name].name}" WHERE {in_json("zone_id")}', json.dumps(zone_ids))
        for name, zone_ids in replaced.items()
        if zone_ids
    ]
    kept = [p for rows, p in zip(batch, parts, strict=True) if not isinstance(out[rows.zone_id], BaseMissing)]
    for name in replaced:
        statements += _joined([p.children[name] for p in kept if p.zone_id in replaced[name]])
    statements += _joined([p.audit for p in kept]) + _joined([p.notices for p in kept])
    for sql, param in statements:  # the deletes before the inserts that replace them
        run(conn, sql, param)
    return [out[i] for i in ids]


class _Packed(NamedTuple):
    """One zone's rows of one table, as JSON array items (no brackets), and the INSERT for them."""

    sql: str
    items: str


def _joined(parts: list[_Packed]) -> list[tuple[str, str]]:
    """The zones' rows of one table as one statement, or none; one per SQL where their columns
    differ (a table's rows from one build of kenflow have the same)."""
    by_sql: dict[str, list[str]] = {}
    for p in parts:
        if p.items:
            by_sql.setdefault(p.sql, []).append(p.items)
    return [(sql, "[" + ",".join(items) + "]") for sql, items in by_sql.items()]


class _Parts(NamedTuple):
    """A zone's audit rows, copies and child tables, packed."""

    zone_id: str
    audit: _Packed
    notices: _Packed
    children: dict[str, _Packed]

    @classmethod
    def of(cls, dialect: Dialect, rows: ProjectionRows) -> _Parts | None:
        """None where any of them cannot be packed."""
        audit = _pack(dialect, AUDIT, _typed(AUDIT, rows.audit), AUDIT_CONFLICT)
        notices = _pack(dialect, NOTICE, _typed(NOTICE, rows.notices), NOTICE_CONFLICT)
        children = {
            name: _pack(dialect, CHILDREN[name], _typed(CHILDREN[name], table_rows))
            for name, table_rows in rows.children.items()
        }
        if audit is None or notices is None or any(c is None for c in children.values()):
            return None
        return cls(rows.zone_id, audit, notices, children)  # type: ignore[arg-type]


def _pack(dialect: Dialect, table: Table, rows: list[Row], conflict: str = "") -> _Packed | None:
    """The rows packed (no SQL for none), or None where they cannot be."""
    if not rows:
        return _Packed("", "")
    one = packed(dialect, table, rows, conflict)
    return None if one is None else _Packed(one[0], one[1][1:-1])


def _write_zone_row(
    conn: Connection,
    rows: ProjectionRows,
    stored: Stored | None,
    now: datetime | None,
    replaced: dict[str, list[str]],
) -> bool | BaseMissing:
    """write_rows' general path for the zone row (the child tables to replace noted in
    `replaced`, for the batch's packed statements); its outcome."""
    if stored is not None and stored.version > rows.version:
        return False  # a newer version is stored: audit rows and copies only
    try:
        old = rows_base(rows, stored)
    except BaseMissing as err:
        return err
    values = _zone_values(rows, now)
    values["digest"] = json.dumps(rows.digests)
    driver.execute(conn, _statements(conn.dialect.name)[f"zone{not rows.audit}"], [values])
    for name, d in rows.digests.items():
        if old.get(name) != d:
            replaced[name].append(rows.zone_id)
    return True


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
