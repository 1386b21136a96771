"""Alembic environment for the read model.

kenflow.db.migrate.upgrade() hands over an open connection (config.attributes["connection"]),
already inside a transaction and holding the migration lock; the alembic command line gets its
URL from config.attributes["url"], then sqlalchemy.url, then Settings (KENFLOW_DATABASE_URL).
Logging is left alone on purpose: this also runs inside the web server and the worker.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel, create_engine

import kenflow.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from kenflow.settings import get_settings

    return get_settings().db_url


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """Ignore tables kenflow does not own (APScheduler's job store, for one)."""
    return not (type_ == "table" and reflected and compare_to is None)


def _configure(**kw: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=True,
        **kw,  # type: ignore[arg-type]
    )


def run_offline() -> None:
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _configure(connection=given, render_as_batch=given.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
