"""A workflow for tests/test_sandbox.py, in a module of its own so the sandbox imports it as it
imports workflows/zone.py: it reads the clock as a workflow must, or as it must not."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn
class ClockProbe:
    @workflow.run
    async def run(self, how: str) -> str:
        if how == "wall-clock":
            return datetime.now().isoformat()  # not deterministic: the sandbox must refuse it
        return workflow.now().isoformat()
