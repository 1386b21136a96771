"""The read model's hot writes on the database driver's own cursor, with SQL that SQLAlchemy
compiled once.

Every accepted act ends in a few statements (kenflow/db/projection.py). Through
`Connection.execute`, SQLAlchemy's per-call machinery (cache look-up, execution context,
parameter processing, result set-up) cost more than SQLite itself: in `bench/projection.py`
0.85 of 1.25 s against 0.24 s in sqlite3. In the worker that CPU is taken under the GIL, while
the workflows wait for it, and a bench run with the write made free put kenflow level with
bare Temporal (bench/README item 20). Here a statement is compiled by SQLAlchemy's
own compiler for the connection's dialect and the column keys of the rows given, once; each
value still goes through its column type's bind processor (SQLite's text dates, booleans as
integers, UTCDateTime); and the driver's cursor of the same connection runs it, inside the
caller's transaction.

Only what this handles exactly is taken. Rows whose keys differ from one another, and a
statement that needs SQLAlchemy at execution (a column's Python-side default, a bind computed
by a callable, an expanding IN, result columns to convert), go through `Connection.execute`
as before. A database error comes as the driver raises it, not wrapped in sqlalchemy.exc;
the callers (the group commit, the deliveries' record) treat any exception alike.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

_FROM_ROW = object()  # a slot filled from each row, not a value the statement carries


class _Slot(NamedTuple):
    name: str
    process: Callable[[Any], Any] | None
    fixed: Any


class Prepared(NamedTuple):
    sql: str
    slots: tuple[_Slot, ...]
    positional: bool

    def values(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        out = [
            (
                s.fixed
                if s.fixed is not _FROM_ROW
                else (s.process(row[s.name]) if s.process is not None else row[s.name])
            )
            for s in self.slots
        ]
        if self.positional:
            return tuple(out)
        return {s.name: v for s, v in zip(self.slots, out, strict=True)}


def prepare(
    stmt: Executable, dialect: Dialect, keys: Sequence[str], returns: bool = False
) -> Prepared | None:
    """The statement compiled for `dialect` and rows with `keys`; None where a value would have
    to be computed at execution (the caller then uses Connection.execute). With `returns`, a
    statement whose result columns the driver hands over as they are (no result processing)."""
    column_keys = list(keys) if getattr(stmt, "is_insert", False) else None
    # for_executemany: no RETURNING of a new row's key, which PostgreSQL's INSERT would get
    # for SQLAlchemy's inserted_primary_key; nobody here reads it.
    compiled = stmt.compile(dialect=dialect, column_keys=column_keys, for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # defaults SQLAlchemy computes before executing
    if returns:
        columns = compiled.effective_returning or list(getattr(stmt, "selected_columns", ()))
        if not columns or any(c.type.result_processor(dialect, None) is not None for c in columns):
            return None
    elif compiled.effective_returning:
        return None  # results nobody would read
    if compiled.escaped_bind_names:
        return None  # bind names the SQL spells otherwise than the parameters
    names = compiled.positiontup if dialect.positional else list(compiled.binds)
    assert names is not None
    slots = []
    wanted = set(keys)
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding or bind.literal_execute:
            return None  # rendered into the SQL at execution
        process = processor(bind.type, dialect)
        if name in wanted:
            slots.append(_Slot(name, process, _FROM_ROW))
        elif bind.callable is None and not bind.required:
            slots.append(_Slot(name, None, process(bind.value) if process else bind.value))
        else:
            return None
    return Prepared(compiled.string, tuple(slots), bool(dialect.positional))


def processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy's execution makes of a value of `type_` for `dialect`: the dialect's own
    type's processor. The generic DateTime has none, and the driver's default adapter would
    store a whole second without SQLAlchemy's .000000 (the same instant, another text)."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


@functools.lru_cache(maxsize=256)  # statements are built once (projection.py); a stray one is evicted
def _prepared_for(
    stmt: Executable, dialect: Dialect, keys: tuple[str, ...], returns: bool
) -> Prepared | None:
    return prepare(stmt, dialect, keys, returns)


def first(conn: Connection, stmt: Executable, row: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The first row `stmt` returns for the parameters `row`, as a plain tuple, or None."""
    prepared = _prepared_for(stmt, conn.dialect, tuple(row), True)
    if prepared is None:
        found = conn.execute(stmt, dict(row)).first()
        return None if found is None else tuple(found)
    with run(conn, prepared.sql, prepared.values(row)) as cursor:
        found = cursor.fetchone()
    return None if found is None else tuple(found)


def execute(conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run `stmt` once per row (one executemany) in the connection's transaction. For one row,
    the rows it changed (0 where an upsert's WHERE or an UPDATE's matched none); for several,
    what the driver reports (psycopg: -1); through the fall-back, what SQLAlchemy reports
    (which can be -1 for an INSERT it gave RETURNING on PostgreSQL)."""
    if not rows:
        return 0
    keys = tuple(rows[0])
    prepared = _prepared_for(stmt, conn.dialect, keys, False)
    if prepared is None or any(tuple(r) != keys for r in rows[1:]):
        params = list(rows) if len(rows) > 1 else rows[0]
        return conn.execute(stmt, params).rowcount  # type: ignore[arg-type, attr-defined, no-any-return]
    many = len(rows) > 1
    params = [prepared.values(r) for r in rows] if many else prepared.values(rows[0])
    with run(conn, prepared.sql, params, many=many) as cursor:
        return int(cursor.rowcount)


@contextlib.contextmanager
def run(conn: Connection, sql: str, params: Any, *, many: bool = False) -> Iterator[Any]:
    """The connection's DBAPI cursor, having run `sql`; closed after the caller read it.
    Listeners of SQLAlchemy's cursor events (tests counting statements, tracing) still see each
    statement; they get no execution context, as none was made."""
    cursor = conn.connection.cursor()
    try:
        for before in conn.dispatch.before_cursor_execute:
            before(conn, cursor, sql, params, None, many)
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
        for after in conn.dispatch.after_cursor_execute:
            after(conn, cursor, sql, params, None, many)
        yield cursor
    finally:
        cursor.close()
