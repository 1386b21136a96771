"""kenflow/db/rows_together.py: a batch of zones' rows written with one SQLite statement per table
leaves the read model holding exactly what writing them zone by zone leaves (every table, as the
database stores it), with the same outcome for each zone; what it cannot carry goes zone by zone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from kenflow.db import rows_together
from kenflow.db.engine import write_together, writing
from kenflow.db.projection import AUDIT, CHILDREN, NOTICE, ZONE
from kenflow.db.rows_together import RowsWrite, write_rows_together
from models.projection import BaseMissing
from models.read_rows import ProjectionRows, notice_statuses, projection_rows
from tests.test_group_writer import as_zone, whole_and_partial
from tests.test_projection_delta import two_years
from tests.test_projection_rows import fresh, received

TABLES = [ZONE, AUDIT, NOTICE, *CHILDREN.values()]
SIZES = [1, 3, 5, 2, 4]  # batch sizes, in turn


def sent_rows() -> list[ProjectionRows]:
    """One zone's rows after every act of two years, as the zone sends them (leaving out the
    child tables it sent already), received as the worker receives them."""
    out, sent, sent_notices = [], None, None
    for p in two_years().projections:
        rows = projection_rows(p.state, p.timeline, sent, sent_notices)
        out.append(received(rows))
        sent, sent_notices = rows.digests, notice_statuses(p.state)
    return out


def stored(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table as the database holds it (text for SQLite's dates), but the audit's own ids."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            cols = ", ".join(f'"{c.name}"' for c in table.columns if not (table is AUDIT and c.name == "id"))
            out[table.name] = conn.exec_driver_sql(f"SELECT {cols} FROM {table.name} ORDER BY {cols}").all()
    return out


def outcome(x: object) -> object:
    return type(x).__name__ if isinstance(x, Exception) else x


def statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_batch_writes_what_zone_by_zone_writes(tmp_path: Path) -> None:
    """Five zones' lives interleaved in batches of one to five, then an older version sent again
    and a zone whose read model lacks tables its rows leave out, in one batch with others: the
    same outcomes and the same stored rows, in a fixed number of statements per batch."""
    life = sent_rows()
    zones = [[as_zone(r, n) for r in life] for n in range(5)]
    order = [r for turn in itertools.zip_longest(*zones) for r in turn if r is not None]
    stale = as_zone(life[3], 0)  # zone 0 holds a newer version by now
    _, partial = whole_and_partial()
    # a projection with no act (a copy's failure): same version, the zone's updated_at kept
    quiet = as_zone(life[-1], 2).model_copy(
        update={"audit": [], "updated_at": datetime(2030, 1, 1, tzinfo=UTC)}
    )
    tail = [stale, as_zone(partial, 99), as_zone(life[-1], 1), quiet]
    one, many = fresh(tmp_path, "one"), fresh(tmp_path, "many")
    seen = statements(many)
    sizes = itertools.cycle(SIZES)
    batches, at = [], 0
    while at < len(order):
        n = next(sizes)
        batches.append(order[at : at + n])
        at += n
    batches.append(tail)
    outcomes: list[tuple[list[object], list[object]]] = []
    for batch in batches:
        seen.clear()
        a = write_together(one, [RowsWrite(r) for r in batch], BaseMissing)
        b = write_together(many, [RowsWrite(r) for r in batch], BaseMissing, rows_together.together)
        outcomes.append(([outcome(x) for x in a], [outcome(x) for x in b]))
        # each zone's row, the lock and the read, the child tables replaced, audit rows, copies
        assert len(seen) <= len(batch) + 2 + 2 * len(CHILDREN) + 2, seen
    assert all(a == b for a, b in outcomes), outcomes
    assert outcomes[-1][0] == [False, "BaseMissing", True, True]
    assert stored(one) == stored(many)
    held = stored(many)
    assert not any(str(r[0]).endswith("-99") for name in ("zone", "audit", "notice") for r in held[name])
    assert len(held["zone"]) == 5


def test_what_json_cannot_carry_goes_zone_by_zone(tmp_path: Path) -> None:
    """A zone twice in one batch, or text with a NUL character: write_rows_together declines
    before writing (None) and the batch is written zone by zone, as without it."""
    life = sent_rows()
    one, many = fresh(tmp_path, "one"), fresh(tmp_path, "many")
    first = life[0]
    nul = received(ProjectionRows.model_validate_json(first.model_dump_json().replace("湖東", "湖\\u0000東")))
    nul = as_zone(nul, 7)
    assert "\x00" in nul.zone["name"]
    for batch in ([first, as_zone(first, 1)], [life[1], life[1]], [nul, as_zone(life[0], 2)]):
        with writing(many) as conn:
            if batch[0] is life[1] or batch[0] is nul:
                assert write_rows_together(conn, batch) is None
        a = write_together(one, [RowsWrite(r) for r in batch], BaseMissing)
        b = write_together(many, [RowsWrite(r) for r in batch], BaseMissing, rows_together.together)
        assert [outcome(x) for x in a] == [outcome(x) for x in b]
    assert stored(one) == stored(many)


def test_other_databases_go_zone_by_zone(engine: Engine) -> None:
    """PostgreSQL writes zones side by side without giving up a GIL per row: declined there."""
    rows = sent_rows()[0]
    with writing(engine) as conn:
        batch = write_rows_together(conn, [rows])
    assert (batch is None) == (engine.dialect.name != "sqlite")


FLOAT_TABLE = CHILDREN["kpi_evaluation"]


_ENGINES: dict[str, Engine] = {}


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8),
    text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30),
)
def test_numbers_and_text_come_back_exactly(tmp_path_factory: Any, values: list[float], text: str) -> None:
    """SQLite reads the packed JSON's numbers and text back to exactly what the driver binds."""
    if "f" not in _ENGINES:
        _ENGINES["f"] = fresh(tmp_path_factory.mktemp("floats"), "f")
    engine = _ENGINES["f"]
    rows = [
        {"zone_id": "z", "kpi_id": f"k{i}", "fy": 2020 + i, "target_version": 1, "actual": v}
        | {
            "estimate": i % 2 == 0,
            "achievement_rate": -v,
            "expected_value": None,
            "status": text,
            "grade": "A",
        }
        for i, v in enumerate(values)
    ]
    packed = rows_together.packed(engine.dialect, FLOAT_TABLE, rows)
    assert packed is not None
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # rows of a zone the test never made
        conn.exec_driver_sql(f"DELETE FROM {FLOAT_TABLE.name}")
        conn.exec_driver_sql(packed[0], (packed[1],))
        conn.commit()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    with engine.connect() as conn:
        got = conn.execute(sa.select(FLOAT_TABLE).order_by(FLOAT_TABLE.c.fy)).all()
    assert [(r.actual, r.achievement_rate, r.status, r.estimate) for r in got] == [
        (v, -v, text, i % 2 == 0) for i, v in enumerate(values)
    ]
