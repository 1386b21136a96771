"""An act that arrives while a zone's workflow task has failed (a worker stalled past the task
timeout) waits for the retried task instead of answering 503 at once; if the task keeps
failing, the caller gets ZoneBusy, and nothing was recorded. On the dev server, whose failed
task retries come in real time."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from kenflow.service import ZoneBusy, execute_update
from tests.stalling_workflow import STALL, Stalling
from tests.web_fixtures import dev_server


@pytest_asyncio.fixture(scope="module")
async def dev() -> AsyncIterator[Client]:
    async with dev_server() as env:
        async with Worker(
            env.client,
            task_queue="stalling",
            workflows=[Stalling],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            yield env.client


async def _stalled(client: Client):  # type: ignore[no-untyped-def]
    handle = await client.start_workflow(Stalling.run, id=f"stalling-{uuid.uuid4()}", task_queue="stalling")
    assert await execute_update(handle, Stalling.add, 1, result_type=int) == 1
    STALL["on"] = True
    await handle.signal(Stalling.stall)
    await asyncio.sleep(1.5)  # the task has failed: the server now refuses updates
    return handle


async def test_an_act_waits_out_a_failed_workflow_task(dev: Client) -> None:
    handle = await _stalled(dev)
    try:
        began = time.monotonic()
        pending = asyncio.create_task(execute_update(handle, Stalling.add, 10, result_type=int))
        await asyncio.sleep(1.0)
        assert not pending.done()  # refused by the server, and tried again
        STALL["on"] = False  # the worker recovers; the server's next retry of the task completes
        assert await asyncio.wait_for(pending, 30) == 11  # applied once
        assert time.monotonic() - began > 1.0
        assert await execute_update(handle, Stalling.add, 100, result_type=int) == 111
    finally:
        STALL["on"] = False


async def test_a_task_that_keeps_failing_answers_zone_busy_and_records_nothing(dev: Client) -> None:
    handle = await _stalled(dev)
    try:
        with pytest.raises(ZoneBusy, match="記録はされていません"):
            await execute_update(
                handle, Stalling.add, 10, result_type=int, update_id="busy-1", delays=(0.2, 0.2)
            )
    finally:
        STALL["on"] = False
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        async for e in handle.fetch_history_events()
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(accepted) == 1 and "busy-1" not in accepted  # only the first, before the stall
