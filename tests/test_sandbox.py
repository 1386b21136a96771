"""kenflow's workflow runner (kenflow/sandbox.py) is temporalio's sandbox with its snippets
compiled once: workflows still run in it, its restrictions still hold, and the compiled code is
reused rather than compiled per call."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import PayloadCodec, SerializationContext, WithSerializationContext
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from kenflow import sandbox
from tests.sandbox_probe import ClockProbe, ContextProbe, echo


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


class RecordingCodec(PayloadCodec, WithSerializationContext):
    """Passes payloads through and notes the serialization context each was encoded under."""

    def __init__(self, seen: list[str], context: SerializationContext | None = None) -> None:
        self.seen, self.context = seen, context

    def with_context(self, context: SerializationContext) -> RecordingCodec:
        return RecordingCodec(self.seen, context)

    def _note(self, way: str) -> None:
        ctx = self.context
        kind = type(ctx).__name__ if ctx else "none"
        detail = getattr(ctx, "activity_type", None) or getattr(ctx, "workflow_id", "")
        local = getattr(ctx, "is_local", "")
        self.seen.append(f"{way} {kind} {detail} {local}")

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._note("encode")
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._note("decode")
        return list(payloads)


async def _contexts(skip_env, runner: WorkflowRunner) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    converter = dataclasses.replace(pydantic_data_converter, payload_codec=RecordingCodec(seen))
    client = Client(**{**skip_env.client.config(), "data_converter": converter})
    queue = "contexts"  # the same ids under both runners, so the contexts compare
    async with Worker(
        client, task_queue=queue, workflows=[ContextProbe], activities=[echo], workflow_runner=runner
    ):
        assert await client.execute_workflow(ContextProbe.run, "x", id="probe", task_queue=queue) == "x"
    return sorted(seen)


async def test_payloads_get_the_serialization_contexts_the_stock_sandbox_gives(skip_env) -> None:  # type: ignore[no-untyped-def]
    ours = await _contexts(skip_env, sandbox.workflow_runner())
    assert any("ActivitySerializationContext echo True" in s for s in ours)  # the local activity's
    assert any("ActivitySerializationContext echo False" in s for s in ours)
    stock = await _contexts(skip_env, SandboxedWorkflowRunner())
    assert ours == stock
