"""kenflow.db.driver: statements run on the driver's cursor store and return exactly what
SQLAlchemy's Connection.execute would, on SQLite and PostgreSQL, and anything it cannot do
exactly goes through Connection.execute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import Engine, event

from kenflow.db import driver
from kenflow.db.dialect import insert_for
from kenflow.db.engine import writing
from kenflow.db.tables import UTCDateTime

META = sa.MetaData()
THING = sa.Table(
    "driver_thing",
    META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String, unique=True, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("on", sa.Date, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("n", sa.Integer, nullable=False),
)
STAMPED = sa.Table(
    "driver_stamped",
    META,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("stamp", sa.String, nullable=False, default=lambda: "from python"),
)
JST = timezone(timedelta(hours=9))


def _rows(n: int, base: int = 0) -> list[dict[str, object]]:
    return [
        {
            "key": f"k{base + i}",
            "at": datetime(2026, 4, 1, 9, 30, 15, 123456, tzinfo=JST) + timedelta(minutes=i),
            "on": date(2026, 4, 1 + i % 20) if i % 3 else None,
            "flag": bool(i % 2),
            "note": "備考 ✓" if i % 2 else None,
            "n": i,
        }
        for i in range(n)
    ]


def _read(conn: sa.Connection, table: sa.Table = THING) -> list[tuple[object, ...]]:
    key = table.c.key
    return [tuple(r) for r in conn.execute(sa.select(table).order_by(key))]


def _upsert(engine: Engine) -> sa.sql.Executable:
    stmt = insert_for(engine.dialect.name, THING)
    return stmt.on_conflict_do_update(
        index_elements=[THING.c.key],
        set_={"n": stmt.excluded.n, "note": stmt.excluded.note},
        where=THING.c.n < stmt.excluded.n,
    )


def test_rows_written_read_back_as_sqlalchemy_writes_them(engine: Engine) -> None:
    """The same rows through the driver and through Connection.execute, in two tables alike:
    every column reads back equal (aware datetimes in UTC, dates, booleans, text, NULLs)."""
    other = THING.to_metadata(sa.MetaData(), name="driver_thing_sa")
    META.create_all(engine)
    other.create(engine)
    try:
        with writing(engine) as conn:
            driver.execute(conn, THING.insert(), _rows(5))
            assert driver.execute(conn, THING.insert(), _rows(1, base=5)) == 1
            conn.execute(other.insert(), _rows(5))
            conn.execute(other.insert(), _rows(1, base=5))
        with engine.connect() as conn:
            mine, theirs = _read(conn), _read(conn, other)
        assert mine == theirs
        assert len(mine) == 6
        assert mine[0][2] == datetime(2026, 4, 1, 0, 30, 15, 123456, tzinfo=UTC)
    finally:
        other.drop(engine)
        META.drop_all(engine)


def test_rowcount_says_whether_an_upsert_or_update_changed_a_row(engine: Engine) -> None:
    """What the projection decides by: 1 where the upsert inserted or its WHERE held, 0 where
    the stored row is newer; 0 for an UPDATE that matched nothing."""
    META.create_all(engine)
    try:
        upsert = _upsert(engine)
        row = _rows(1)[0]
        with writing(engine) as conn:
            assert driver.execute(conn, upsert, [row]) == 1
            assert driver.execute(conn, upsert, [row | {"n": 5, "note": "newer"}]) == 1
            assert driver.execute(conn, upsert, [row | {"n": 3, "note": "older"}]) == 0
            update = (
                sa.update(THING)
                .where(THING.c.key == sa.bindparam("w_key"), THING.c.n <= sa.bindparam("w_n"))
                .values(note=sa.bindparam("v_note"))
            )
            assert driver.execute(conn, update, [{"w_key": "k0", "w_n": 4, "v_note": "x"}]) == 0
            assert driver.execute(conn, update, [{"w_key": "k0", "w_n": 5, "v_note": "y"}]) == 1
            assert driver.execute(conn, update, [{"w_key": "nope", "w_n": 9, "v_note": "z"}]) == 0
        with engine.connect() as conn:
            (stored,) = _read(conn)
        assert (stored[5], stored[6]) == ("y", 5)
    finally:
        META.drop_all(engine)


def test_what_it_cannot_do_exactly_goes_through_sqlalchemy(engine: Engine) -> None:
    """A column default computed in Python is SQLAlchemy's to fill, and rows whose keys come in
    another order are SQLAlchemy's to match; the rows land as through Connection.execute."""
    META.create_all(engine)
    try:
        assert driver.prepare(STAMPED.insert(), engine.dialect, ["key"]) is None
        with writing(engine) as conn:
            driver.execute(conn, STAMPED.insert(), [{"key": "a"}, {"key": "b"}])
            mixed = [{"key": "c", "stamp": "given"}, {"stamp": "also given", "key": "d"}]
            driver.execute(conn, STAMPED.insert(), mixed)
        with engine.connect() as conn:
            assert _read(conn, STAMPED) == [
                ("a", "from python"),
                ("b", "from python"),
                ("c", "given"),
                ("d", "also given"),
            ]
    finally:
        META.drop_all(engine)


def test_first_hands_over_plain_columns_and_leaves_typed_ones_to_sqlalchemy(engine: Engine) -> None:
    META.create_all(engine)
    try:
        with writing(engine) as conn:
            driver.execute(conn, THING.insert(), _rows(2))
            key = sa.bindparam("k")
            plain = sa.select(THING.c.n, THING.c.note).where(THING.c.key == key)
            assert driver.prepare(plain, engine.dialect, ["k"], returns=True) is not None
            assert driver.first(conn, plain, {"k": "k1"}) == (1, "備考 ✓")
            assert driver.first(conn, plain, {"k": "missing"}) is None
            typed = sa.select(THING.c.at, THING.c.flag).where(THING.c.key == key)
            at, flag = driver.first(conn, typed, {"k": "k1"}) or (None, None)
            assert (at, flag) == (datetime(2026, 4, 1, 0, 31, 15, 123456, tzinfo=UTC), True)
    finally:
        META.drop_all(engine)


def test_cursor_listeners_still_see_every_statement(engine: Engine) -> None:
    """Tests that count statements, and tracing, listen to SQLAlchemy's cursor events."""
    META.create_all(engine)
    seen: list[tuple[str, bool]] = []

    def listen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append((statement.split()[0], executemany))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with writing(engine) as conn:
            driver.execute(conn, THING.insert(), _rows(3))
            driver.execute(conn, _upsert(engine), _rows(1))
            driver.first(conn, sa.select(THING.c.n).where(THING.c.key == sa.bindparam("k")), {"k": "k0"})
        assert seen == [("INSERT", True), ("INSERT", False), ("SELECT", False)]
    finally:
        event.remove(engine, "before_cursor_execute", listen)
        META.drop_all(engine)


def test_stored_text_is_what_sqlalchemy_stores(engine: Engine) -> None:
    """Not only equal once read back: the database holds the same values. SQLite keeps dates and
    times as text, which queries compare as text; a whole second must be stored as SQLAlchemy
    stores it (with .000000), not as the sqlite3 module's own adapter would write it."""
    other = THING.to_metadata(sa.MetaData(), name="driver_thing_sa")
    META.create_all(engine)
    other.create(engine)
    rows = _rows(3) + [
        {"key": "whole", "at": datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC), "on": date(2026, 4, 1)}
        | {"flag": True, "note": None, "n": 9}
    ]
    try:
        with writing(engine) as conn:
            driver.execute(conn, THING.insert(), rows)
            conn.execute(other.insert(), rows)
        with engine.connect() as conn:
            raw = [
                conn.exec_driver_sql(f'SELECT key, at, "on", flag FROM {t.name} ORDER BY key').all()
                for t in (THING, other)
            ]
        assert raw[0] == raw[1]
        if engine.dialect.name == "sqlite":
            assert ("whole", "2026-04-01 00:00:00.000000", "2026-04-01", 1) in raw[0]
    finally:
        other.drop(engine)
        META.drop_all(engine)
