"""kenflow's workflow runner (kenflow/sandbox.py) is temporalio's sandbox with its snippets
compiled once: workflows still run in it, its restrictions still hold, and the compiled code is
reused rather than compiled per call."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from kenflow import sandbox
from tests.sandbox_probe import ClockProbe


def test_the_installed_temporalio_has_what_the_runner_relies_on() -> None:
    # Fails when a temporalio release moves `_Instance._run_code`: the worker then falls back to
    # the stock sandbox (correct, but ~12% more CPU per update), and this says so.
    assert sandbox.COMPILED
    assert isinstance(sandbox.workflow_runner(), sandbox.CompiledSandboxRunner)


async def test_workflows_run_in_it_and_its_restrictions_hold(skip_env) -> None:  # type: ignore[no-untyped-def]
    queue = f"sandbox-{uuid.uuid4()}"
    before = sandbox._compiled.cache_info()
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[ClockProbe], workflow_runner=sandbox.workflow_runner()
    ):
        ok = await skip_env.client.execute_workflow(
            ClockProbe.run, "workflow-clock", id=f"{queue}-ok", task_queue=queue
        )
        assert ok.startswith("20")  # an ISO date from the workflow's clock

        refused = await skip_env.client.start_workflow(
            ClockProbe.run, "wall-clock", id=f"{queue}-refused", task_queue=queue
        )
        failure = ""
        for _ in range(100):
            async for event in refused.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure.message
            if failure:
                break
            await asyncio.sleep(0.1)
        await refused.terminate()
    assert "datetime.datetime.now" in failure  # RestrictedWorkflowAccessError, as in the stock sandbox

    after = sandbox._compiled.cache_info()
    assert after.hits - before.hits > 10  # every activation and payload reused compiled code
    assert after.currsize <= 8  # a handful of fixed snippets, not one per call
