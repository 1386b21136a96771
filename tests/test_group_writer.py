"""Projections committed together (activities/group_writer.py), on SQLite and PostgreSQL: acts
waiting at the same time share a transaction, each gets its own answer, and one zone's failure
never loses another zone's rows."""

from __future__ import annotations

import asyncio
import functools

import pytest
from sqlalchemy import Engine, event
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.group_writer import GroupWriter
from activities.lanes import Lane
from activities.readmodel import ReadModelActivities
from kenflow.db.engine import Write, write_together
from kenflow.db.projection import write_rows
from models.projection import BASE_MISSING, BaseMissing
from models.read_rows import ProjectionRows, projection_rows
from tests.test_projection_delta import two_years
from tests.test_projection_rows import everything, received

ZONES = 12


def as_zone(rows: ProjectionRows, n: int) -> ProjectionRows:
    """The same rows for another zone (its id, and the notice keys that carry it)."""
    return received(
        ProjectionRows.model_validate_json(
            rows.model_dump_json().replace(rows.zone_id, f"{rows.zone_id}-{n}")
        )
    )


def whole_and_partial() -> tuple[ProjectionRows, ProjectionRows]:
    """A zone's whole rows, and the same act's rows without child tables a read model that never
    saw the zone lacks (BaseMissing there)."""
    life = two_years()
    last, before = life.projections[-1], life.projections[-2]
    partial = projection_rows(last.state, last.timeline, projection_rows(before.state, [], None).digests)
    assert partial.children != {} and set(partial.children) < set(partial.digests)
    return projection_rows(last.state, last.timeline, None), partial


def rows_write(rows: ProjectionRows) -> Write:
    return functools.partial(write_rows, rows=rows)


def together(engine: Engine, batch: list[ProjectionRows]) -> list[object]:
    return write_together(engine, [rows_write(r) for r in batch], BaseMissing)


def commits(engine: Engine) -> list[int]:
    seen: list[int] = []
    event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen


async def test_acts_waiting_together_share_a_transaction_and_each_gets_its_answer(engine: Engine) -> None:
    whole, _ = whole_and_partial()
    batch = [as_zone(whole, n) for n in range(ZONES)]
    lane = Lane("projection-test", 1)
    writer = GroupWriter(engine, lane)
    seen = commits(engine)
    try:
        first = await asyncio.gather(*(writer.write(rows_write(r)) for r in batch))
        again = await asyncio.gather(
            *(writer.write(rows_write(r)) for r in batch)
        )  # the same versions: rewritten
    finally:
        lane.shutdown()
    assert first == [True] * ZONES and again == [True] * ZONES
    assert len(seen) == 2  # twelve acts waiting at once: one transaction each time

    for r in batch:
        held = everything(engine, r.zone_id)
        assert held["zone"][0][0] == r.zone_id and len(held["audit"]) == len(r.audit)


async def test_a_zone_the_read_model_lacks_fails_alone(engine: Engine) -> None:
    whole, partial = whole_and_partial()
    good = [as_zone(whole, n) for n in range(3)]
    bad = as_zone(partial, 99)
    lane = Lane("projection-test", 1)
    writer = GroupWriter(engine, lane)
    try:
        out = await asyncio.gather(
            *(writer.write(rows_write(r)) for r in [good[0], bad, *good[1:]]), return_exceptions=True
        )
    finally:
        lane.shutdown()
    assert out[0] is True and out[2:] == [True, True]
    assert isinstance(out[1], BaseMissing)
    assert everything(engine, bad.zone_id)["zone"] == []  # nothing of it was written
    for r in good:
        assert everything(engine, r.zone_id)["zone"][0][0] == r.zone_id


def test_an_error_that_spoils_the_transaction_fails_only_its_own_projection(engine: Engine) -> None:
    """A write the database refuses rolls the shared transaction back; every projection is then
    written alone, so only the refused one fails."""
    whole, _ = whole_and_partial()
    good = [as_zone(whole, n) for n in range(3)]
    spoiled = as_zone(whole, 98)
    member = spoiled.children["member"][0]
    member["zone_id"] = None  # NOT NULL in every database
    seen = commits(engine)
    out = together(engine, [good[0], spoiled, *good[1:]])
    assert out[0] is True and out[2:] == [True, True]
    assert isinstance(out[1], Exception) and not isinstance(out[1], BaseMissing)
    assert len(seen) == 3  # the shared transaction never committed; the three good ones did alone
    assert everything(engine, spoiled.zone_id)["zone"] == []
    assert all(everything(engine, r.zone_id)["zone"] for r in good)


def test_a_batch_of_one_raises_what_it_met(engine: Engine) -> None:
    whole, _ = whole_and_partial()
    spoiled = as_zone(whole, 97)
    spoiled.children["member"][0]["zone_id"] = None
    with pytest.raises(Exception) as err:
        together(engine, [spoiled])
    assert not isinstance(err.value, BaseMissing)


async def test_a_waiting_act_given_up_leaves_the_others_to_commit(engine: Engine) -> None:
    whole, _ = whole_and_partial()
    batch = [as_zone(whole, n) for n in range(4)]
    lane = Lane("projection-test", 1)
    writer = GroupWriter(engine, lane)
    try:
        tasks = [asyncio.create_task(writer.write(rows_write(r))) for r in batch]
        await asyncio.sleep(0)  # all four are waiting; the writer has not begun
        tasks[2].cancel()
        out = await asyncio.gather(*tasks, return_exceptions=True)
        later = await writer.write(rows_write(as_zone(whole, 50)))  # the writer goes on
    finally:
        lane.shutdown()
    assert isinstance(out[2], asyncio.CancelledError)
    assert [out[i] for i in (0, 1, 3)] == [True, True, True] and later is True
    assert everything(engine, batch[2].zone_id)["zone"] == []


async def test_the_activity_reports_a_missing_base_as_final(engine: Engine) -> None:
    """What the zone workflow relies on: BaseMissing comes back as a non-retryable
    ApplicationError of its type, so the zone resends all its rows at once."""
    _, partial = whole_and_partial()
    acts = ReadModelActivities(engine)
    try:
        with pytest.raises(ApplicationError) as err:
            await ActivityEnvironment().run(acts.project_rows, as_zone(partial, 7))
    finally:
        acts.lane.shutdown()
    assert err.value.type == BASE_MISSING and err.value.non_retryable
