"""`alembic upgrade head`, run by kenflow itself at every start of `kenflow up`, the worker and
the web server, so a deployment never runs against an old schema.

Several processes start at once, so the upgrade holds a lock: a file lock next to a SQLite
database, a transaction-scoped advisory lock on PostgreSQL. The loser waits, then finds the
schema at head and does nothing. A database whose tables were made by metadata.create_all
(before migrations existed, or by a quick script) is stamped at head instead of failing on
"table already exists".

On SQLite the upgrade is one transaction that kenflow begins itself (pysqlite would commit
before each DDL statement, and a migration failing half-way would leave a schema no revision
describes), with foreign keys off while it runs: batch mode rebuilds a table by copying it and
dropping the old one, and with foreign keys on that drop deletes every child row through ON
DELETE CASCADE. The keys are checked before the commit (SQLite's own procedure for ALTER TABLE).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, inspect, make_url, text

from .engine import make_engine

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # kenflow/
ALEMBIC_INI = PACKAGE_DIR / "alembic.ini"
MIGRATIONS = PACKAGE_DIR / "migrations"
PG_LOCK_KEY = 0x6B656E666C6F77  # "kenflow"


def alembic_config(url: str | None = None) -> Config:
    """The packaged alembic.ini, with the migrations directory resolved inside the package."""
    cfg = Config(str(ALEMBIC_INI))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _sqlite_file(url: str) -> Path | None:
    u = make_url(url)
    if not u.drivername.startswith("sqlite"):
        return None
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


@contextlib.contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """An exclusive lock on <db>.migrate.lock; a no-op for non-file databases and on Windows."""
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: rely on "already at head"
        yield
        return
    fd = os.open(str(path) + ".migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _for_schema_changes(engine: Engine) -> None:
    """A SQLite engine whose transactions hold DDL too and whose foreign keys are off; the
    upgrade's own engine, disposed after it."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]  # after make_engine's
        dbapi_conn.isolation_level = None  # pysqlite begins nothing: the "begin" event below does
        dbapi_conn.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock at once: no upgrade from a read


def _check_foreign_keys(conn: Connection) -> None:
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the upgrade would break foreign keys (rolled back): {broken[:5]}")


def _made_by_create_all(conn: Connection) -> bool:
    names = set(inspect(conn).get_table_names())
    return "zone" in names and "alembic_version" not in names


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema; idempotent and safe to call concurrently."""
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    head = head_revision()
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        _for_schema_changes(engine)
    # On SQLite the look at the revision is under the lock too: a new file turns to WAL on its
    # first connection, and another connection's PRAGMA journal_mode=WAL meanwhile can fail at
    # once with "database is locked" (seen in CI: four upgrades of one new file at once).
    try:
        with _file_lock(sqlite_file):
            with engine.connect() as conn:
                if current_revision(conn) == head:
                    return
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                if _made_by_create_all(conn):
                    log.warning("read-model tables exist without alembic_version; stamping them at %s", head)
                    command.stamp(cfg, "head")
                else:
                    command.upgrade(cfg, "head")
                if conn.dialect.name == "sqlite":
                    _check_foreign_keys(conn)
    finally:
        engine.dispose()
