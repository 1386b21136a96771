"""kenflow.db.engine.writing: the read model's hot writes take turns within a process on SQLite,
instead of meeting SQLite's busy handler, and are plain transactions on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from kenflow.db.engine import make_engine, writing

TURNS, THREADS = 15, 8


def _hammer(engines: list[Engine], table: sa.Table) -> list[BaseException]:
    """THREADS threads, each writing TURNS transactions that hold the write lock a moment,
    through the engines in turn."""
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            for i in range(TURNS):
                with writing(engines[n % len(engines)]) as conn:
                    conn.execute(table.insert().values(thread=n, turn=i))
                    time.sleep(0.002)  # the writer keeps the file a while, as a projection does
        except BaseException as err:  # noqa: BLE001 — collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_sqlite_writers_take_turns_instead_of_timing_out(tmp_path: Path) -> None:
    """A busy timeout far shorter than the queue of writers, who write through two engines on
    the same file (as the scheduler and the worker do in `kenflow up`): without turns, SQLite
    answers 'database is locked' to most of them; with them, every write lands."""
    engines = [
        sa.create_engine(
            f"sqlite:///{tmp_path / 'w.db'}", connect_args={"timeout": 0.001, "check_same_thread": False}
        )
        for _ in range(2)
    ]
    meta = sa.MetaData()
    table = sa.Table("w", meta, sa.Column("thread", sa.Integer), sa.Column("turn", sa.Integer))
    meta.create_all(engines[0])
    assert _hammer(engines, table) == []
    engine = engines[0]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == TURNS * THREADS


def test_writing_is_a_plain_transaction_that_rolls_back(engine: Engine) -> None:
    """On both backends: what the block wrote is committed, or rolled back when it raises."""
    from kenflow.db.tables import RecipientRow

    table = RecipientRow.__table__  # type: ignore[attr-defined]
    row = {
        "id": "pref:99",
        "label": "試験",
        "channel": "file",
        "address": "",
        "updated_at": datetime.now(UTC),
    }
    try:
        with writing(engine) as conn:
            conn.execute(table.insert().values(**row))
            raise RuntimeError("stop")
    except RuntimeError:
        pass
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.id).where(table.c.id == "pref:99")).first() is None
    with writing(engine) as conn:
        conn.execute(table.insert().values(**row))
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.id).where(table.c.id == "pref:99")).scalar() == "pref:99"


def test_the_kenflow_engine_writes_in_turns_too(tmp_path: Path) -> None:
    """make_engine's SQLite engine (WAL, 30 s busy timeout) through the same door."""
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    meta = sa.MetaData()
    table = sa.Table("w", meta, sa.Column("thread", sa.Integer), sa.Column("turn", sa.Integer))
    meta.create_all(engine)
    assert _hammer([engine], table) == []
