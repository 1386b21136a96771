"""The floor: a bare Temporal workflow doing what a zone does, minus kenflow.

It accepts validated Updates one after another and, per update, awaits one no-op local
activity (as a zone awaits `project_rows`, a local activity; `project_zone` before
PROJECTION_ROWS_PATCH) and
starts `notices` no-op activities in the background (as a zone starts one `deliver_notices`
per batch of notices that became due together). national.py drives it with the same number of
workflows, updates and activities as the kenflow run, so the ratio between the two is
kenflow's own cost.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError


class BaselineAct(BaseModel):
    seq: int
    notices: int = 0


class BaselineStart(BaseModel):
    """A zone's start projects once and sends its declaration's copies."""

    zone: str
    notices: int = 0


@activity.defn(name="baseline_noop")
async def noop(seq: int) -> None:
    """Does nothing: the round trip is what we measure."""


@workflow.defn(name="Baseline")
class BaselineWorkflow:
    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self, start: BaselineStart) -> None:
        for _ in range(start.notices):
            asyncio.create_task(self._noop(0))
        await self._local(0)
        # Lives on like a zone: never completes during the run.
        await workflow.wait_condition(lambda: False)

    @workflow.update
    async def act(self, act: BaselineAct) -> int:
        self.count += 1
        for _ in range(act.notices):
            asyncio.create_task(self._noop(act.seq))
        await self._local(act.seq)
        return self.count

    @act.validator
    def _validate(self, act: BaselineAct) -> None:
        if act.seq < 1 or act.notices < 0:
            raise ApplicationError("bad act", type="ActRefused", non_retryable=True)

    async def _local(self, seq: int) -> None:
        await workflow.execute_local_activity(noop, seq, start_to_close_timeout=timedelta(seconds=30))

    async def _noop(self, seq: int) -> None:
        await workflow.execute_activity(noop, seq, start_to_close_timeout=timedelta(seconds=30))
