"""One engine per process, SQLite by default and PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.engine import Engine
from sqlmodel import create_engine


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@lru_cache
def engine_for(url: str) -> Engine:
    return make_engine(url)


_writer_locks: dict[str, threading.Lock] = {}  # by database URL: engines on one file share it
_writer_locks_guard = threading.Lock()


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """engine.begin() for the read model's hot writes (projections, delivery records), one at a
    time within this process when the database is SQLite.

    SQLite has one writer per file, and a connection that finds it taken sleeps in the busy
    handler's growing steps (up to 100 ms a time) before it looks again: under load, writes
    waited for those sleeps rather than for each other, and the acts behind them made the p99.
    A lock hands the turn over as soon as the writer commits. It is per database file, so every
    engine of the process on that file takes turns (the scheduler's lease beside the worker in
    `kenflow up`); writes that skip it would wait out the busy handler behind a stream of turns.
    Other processes (the web app) still meet SQLite's busy timeout; PostgreSQL locks rows, so it
    is left alone."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _writer_locks_guard:
        lock = _writer_locks.setdefault(str(engine.url), threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


Write = Callable[[Connection], Any]


Together = Callable[[Connection, list[Write]], "list[Any] | None"]


def write_together(
    engine: Engine, writes: list[Write], alone: type[Exception], together: Together | None = None
) -> list[Any]:
    """Several writes in one transaction (activities/group_writer.py says why): each one's
    result, or the `alone` exception it raised, which a write raises before writing anything,
    so the others still commit. Any other error rolls the lot back; each is then written in a
    transaction of its own, so one bad write fails alone (its exception is its result).

    `together(conn, writes)`, where given, may make the whole batch at once (the projections'
    rows: kenflow/db/rows_together.py) and return the same outcomes, or None to leave the
    writes to be made one after another."""
    try:
        with writing(engine) as conn:
            done = together(conn, writes) if together is not None else None
            if done is not None:
                return done
            return [_outcome(write, conn, alone) for write in writes]
    except Exception:
        if len(writes) == 1:
            raise
    out: list[Any] = []
    for write in writes:
        try:
            with writing(engine) as conn:
                out.append(write(conn))
        except Exception as err:  # noqa: BLE001 — the caller hands it to the write's waiter
            out.append(err)
    return out


def _outcome(write: Write, conn: Connection, alone: type[Exception]) -> Any:
    try:
        return write(conn)
    except alone as err:
        return err
