"""The Alembic migrations build exactly the schema the SQLModel tables describe, on both
backends, and `upgrade` is safe to call again and from several processes at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import kenflow.db.tables  # noqa: F401
from kenflow.db.engine import make_engine
from kenflow.db.migrate import current_revision, head_revision, upgrade


def _diffs(url: str) -> list:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        eng.dispose()


def _revision(url: str) -> str | None:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return current_revision(conn)
    finally:
        eng.dispose()


def test_migrated_schema_matches_metadata(db_url: str) -> None:
    upgrade(db_url)
    assert _diffs(db_url) == []
    assert _revision(db_url) == head_revision()


def test_upgrade_is_idempotent(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    assert _revision(db_url) == head_revision()
    assert _diffs(db_url) == []


def test_concurrent_upgrades(db_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(upgrade, db_url) for _ in range(4)]:
            f.result()
    assert _revision(db_url) == head_revision()
    assert _diffs(db_url) == []


def test_schema_made_by_create_all_is_stamped(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        SQLModel.metadata.create_all(eng)
        upgrade(db_url)
        with eng.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert "alembic_version" in inspect(conn).get_table_names()
            assert conn.execute(text("SELECT count(*) FROM zone")).scalar() == 0
    finally:
        eng.dispose()
