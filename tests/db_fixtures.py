"""Database fixtures: every read-model test runs on SQLite (a temp file) and on PostgreSQL (a
fresh database per test, dropped afterwards).

PostgreSQL is reached through KENFLOW_TEST_PG_ADMIN_URL (default: the local server's `test`
database, trust auth); if it cannot be reached the PostgreSQL half is skipped, loudly.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from kenflow.db.engine import make_engine
from kenflow.db.migrate import upgrade

PG_ADMIN_URL = os.environ.get("KENFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_database() -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"kenflow_test_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as err:
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {err}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty database URL, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kenflow.db'}"
    else:
        yield from _pg_database()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a database migrated to head."""
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()
