"""INSERT .. ON CONFLICT for the two backends the read model runs on.

SQLAlchemy keeps on_conflict_do_nothing / on_conflict_do_update on each dialect's own insert
construct; both SQLite (>= 3.24, with RETURNING from 3.35) and PostgreSQL take the same
arguments, so callers write one statement for both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table


def insert_for(conn: Connection | str, table: Table) -> Any:
    """The dialect's insert(table), which has on_conflict_do_nothing/do_update; `conn` is a
    connection or a dialect name."""
    name = conn if isinstance(conn, str) else conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover
        raise NotImplementedError(f"the read model supports sqlite and postgresql, not {name}")
    return insert(table)
