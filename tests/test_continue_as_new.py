"""Continue-as-new when the server suggests it, on the real dev server.

The time-skipping server never sets the suggestion, so here the dev server is told to suggest
it after 60 events; a zone taking many acts must then hop runs with nothing lost, and no run
may grow far past the suggestion, not even while the copies it sent are slow to go.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from kenflow.temporal import register_search_attributes
from models.municipality import Municipality, MunicipalityKind
from models.zone import AgreementStatus
from tests import zone_kit as k
from tests.factories import HIKONE, code
from tests.web_fixtures import dev_server
from worker import workflow_runner
from workflows.zone import DRAIN_TIMEOUT, ZoneWorkflow

SUGGEST_AFTER = 60
NEIGHBOURS = [
    Municipality(code=code(f"25{380 + i:03d}"), name=f"テスト町{i}", kind=MunicipalityKind.town)
    for i in range(10)
]


def suggesting_server() -> AbstractAsyncContextManager[WorkflowEnvironment]:
    """The dev server, told to suggest continue-as-new after SUGGEST_AFTER events (also what
    tests/record_histories.py records suggested_continue_as_new on)."""
    return dev_server(
        "--dynamic-config-value",
        f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}",
        data_converter=pydantic_data_converter,
    )


@pytest.fixture
async def dev_env():
    async with suggesting_server() as env:
        await register_search_attributes(env.client)
        yield env


async def test_zone_continues_as_new_when_suggested_and_keeps_everything(dev_env, tmp_path) -> None:
    kit = k.Kit.of(dev_env, k.ReadModel.create(tmp_path))
    async with kit.running():
        today = await kit.today()
        zone = await kit.start(k.declare_start([HIKONE], today))
        for neighbour in NEIGHBOURS:
            await k.conclude(zone, HIKONE, neighbour, today, today)
        for _ in range(300):  # settle: the last run may still hop once its deliveries finish
            state = await zone.state()
            runs = await k.all_runs(kit.client, zone.zone_id)
            if state.run == len(runs) > 1 and not state.notices:
                break
            await asyncio.sleep(0.1)
        assert len(runs) >= 3, "30 acts at ~9 events each must outgrow a 60-event suggestion"
        lengths = [len(h.events) for h in runs]
        print("events per run:", lengths)
        for n in lengths[:-1]:  # a settled last run may be short
            # A run hops once the deliveries it started have finished (so none is sent twice);
            # acts arriving meanwhile still land, so allow the overshoot, but it must stay bounded.
            assert SUGGEST_AFTER <= n < 2 * SUGGEST_AFTER
        assert state.run == len(runs)
        assert [a.status for a in state.agreements.values()] == [AgreementStatus.concluded] * 10
        timeline = await zone.timeline()
        acts = [e.act for e in timeline]
        assert acts.count("draft_agreement") == 10 and acts.count("record_resolution") == 20
        assert [e.seq for e in timeline] == list(range(1, state.timeline_seq + 1))
        assert state.whole_timeline() == timeline  # the workflow's own, past runs' entries unpacked
        # every accepted update is in exactly one run's history
        accepted = [u for h in runs for u in k.accepted_update_ids(h)]
        assert len(accepted) == len(set(accepted)) == 30


DELIVERIES = {"deliver_notices", "deliver_notice"}


def scheduled_deliveries(events: list) -> int:  # type: ignore[type-arg]
    return sum(
        1
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name in DELIVERIES
    )


def drain_began(history: WorkflowHistory) -> int | None:
    """Where a run began to wait for its deliveries before continuing as new: the index of its
    DRAIN_TIMEOUT timer's event."""
    for i, e in enumerate(history.events):
        if (
            e.HasField("timer_started_event_attributes")
            and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == DRAIN_TIMEOUT
        ):
            return i
    return None


async def hop_while_copies_wait(kit: k.Kit) -> tuple[k.Zone, list[WorkflowHistory]]:
    """A zone is told to continue as new while copies it sent wait for a delivery worker (none
    runs yet); two more agreements are concluded while the run waits for them; then the
    delivery worker starts. The zone and its runs, oldest first (also recorded for replay:
    tests/record_histories.py)."""
    zones_worker, notices_worker = kit.worker().workers
    async with zones_worker:
        today = await kit.today()
        zone = await kit.start(k.declare_start([HIKONE], today))
        handle = kit.client.get_workflow_handle(zone.zone_id)
        towns = iter(NEIGHBOURS)
        while drain_began(await handle.fetch_history()) is None:
            town = next(towns, None)
            assert town is not None, "the zone never waited for its deliveries before continuing as new"
            await k.conclude(zone, HIKONE, town, today, today)
        for town in (next(towns), next(towns)):  # these land in the run that waits
            await k.conclude(zone, HIKONE, town, today, today)
        async with notices_worker:
            await zone.delivered()
            runs = await k.all_runs(kit.client, zone.zone_id)
    return zone, runs


async def test_a_run_waiting_for_its_copies_starts_no_more(dev_env, tmp_path) -> None:
    """DRAIN_HOLDS_PATCH: while a run waits for its deliveries before continuing as new, acts
    still land in it but their copies go with the next run, so the wait ends when the copies
    already out are delivered, however many acts come meanwhile. Every copy goes exactly once."""
    kit = k.Kit.of(dev_env, k.ReadModel.create(tmp_path))
    zone, runs = await hop_while_copies_wait(kit)
    waited = runs[0]
    events = list(waited.events)
    began = drain_began(waited)
    assert began is not None
    accepted_after = sum(
        1 for e in events[began:] if e.HasField("workflow_execution_update_accepted_event_attributes")
    )
    # the two agreements concluded while the run waited landed in it (and whatever acts of the
    # agreement that set the wait off came after it began)
    assert accepted_after >= 6
    assert scheduled_deliveries(events[:began]) > 0
    assert scheduled_deliveries(events[began:]) == 0, "no delivery started once the wait began"
    assert len(runs) >= 2 and scheduled_deliveries(list(runs[1].events)) > 0  # the next run sent them
    # every copy delivered, each in one attempt
    rows = zone.notices()
    assert rows and all(r.status == "delivered" and r.attempts == 1 for r in rows), [
        (r.key, r.status, r.attempts) for r in rows if r.status != "delivered" or r.attempts != 1
    ]
    # and the runs replay on the current code
    replayer = Replayer(
        workflows=[ZoneWorkflow], workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    for run in runs:
        await replayer.replay_workflow(run)
