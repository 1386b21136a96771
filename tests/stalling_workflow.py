"""A workflow whose task fails while `STALL["on"]` is set (a signal handler raises), standing in
for a zone whose worker stalled past its task timeout: the server then refuses updates with
"Workflow Task in failed state" until a retried task completes. Run unsandboxed, so the test
and the workflow share the switch."""

from __future__ import annotations

from temporalio import workflow

STALL = {"on": False}


@workflow.defn
class Stalling:
    def __init__(self) -> None:
        self.count = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.count >= 100)
        return self.count

    @workflow.signal
    def stall(self) -> None:
        if STALL["on"]:
            raise RuntimeError("the worker stalls")  # fails the workflow task, which is retried

    @workflow.update
    def add(self, n: int) -> int:
        self.count += n
        return self.count
