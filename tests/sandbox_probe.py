"""A workflow for tests/test_sandbox.py, in a module of its own so the sandbox imports it as it
imports workflows/zone.py: it reads the clock as a workflow must, or as it must not."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import activity, workflow


@workflow.defn
class ClockProbe:
    @workflow.run
    async def run(self, how: str) -> str:
        if how == "wall-clock":
            return datetime.now().isoformat()  # not deterministic: the sandbox must refuse it
        return workflow.now().isoformat()


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn
class ContextProbe:
    """Payloads of each kind a zone has: its input, an activity's, a local activity's, its result."""

    @workflow.run
    async def run(self, text: str) -> str:
        a = await workflow.execute_activity(echo, text, start_to_close_timeout=timedelta(seconds=10))
        b = await workflow.execute_local_activity(echo, a, start_to_close_timeout=timedelta(seconds=10))
        return b
