"""What starting a zone's run costs the worker's event loop: replay a short recorded history
many times and time the sandbox's creation of each run's workflow instance.

    python bench/new_run.py [--runs 300] [--history tests/histories/abolition.json]

Every run of a zone (its start, its continue-as-new each fiscal year, a replay after the
worker's cache let it go) begins with the sandbox importing workflows/zone.py afresh and
temporalio reading the workflow class's handlers, on the worker's event loop, where no other
zone's activation moves meanwhile. Prints the median CPU milliseconds of that creation (the
creating thread's CPU) and of a whole replayed run, then one JSON line.

It first writes the module's bytecode as the worker does at start (worker.compile_workflow_module):
without it, where PYTHONDONTWRITEBYTECODE is set, every creation also compiled the source, and
the figure (4.2 ms here, session 12) was twice what a worker pays (1.8–2.0 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowInstance, WorkflowInstanceDetails

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kenflow.sandbox import CompiledSandboxRunner  # noqa: E402
from worker import compile_workflow_module  # noqa: E402
from workflows.zone import ZoneWorkflow  # noqa: E402


class TimedRunner(CompiledSandboxRunner):
    """kenflow's runner, noting the CPU each instance's creation took."""

    created: list[float] = []

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        t = time.thread_time()
        try:
            return super().create_instance(det)
        finally:
            self.created.append((time.thread_time() - t) * 1000)


async def main(args: argparse.Namespace, text: str) -> dict:
    compile_workflow_module()  # as the worker does at start
    runner = TimedRunner()
    replayer = Replayer(
        workflows=[ZoneWorkflow], workflow_runner=runner, data_converter=pydantic_data_converter
    )

    async def histories(n: int) -> AsyncIterator[WorkflowHistory]:
        for i in range(n):
            yield WorkflowHistory.from_json(f"bench-new-run-{i}", text)

    async def replay(n: int) -> float:
        t = time.process_time()
        async with replayer.workflow_replay_iterator(histories(n)) as results:
            async for result in results:
                if result.replay_failure is not None:
                    raise result.replay_failure
        return (time.process_time() - t) * 1000 / n

    await replay(20)  # warm up
    runner.created.clear()
    whole = await replay(args.runs)
    created = statistics.median(runner.created)
    name = Path(args.history).name
    print(
        f"{args.runs} replays of {name}: creating the instance {created:.2f} ms CPU (median), "
        f"the whole run {whole:.2f} ms CPU (mean, all threads)",
        file=sys.stderr,
    )
    return {"history": name, "runs": args.runs, "create_ms": round(created, 2), "run_ms": round(whole, 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--history", default=str(ROOT / "tests/histories/abolition.json"))
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args, Path(args.history).read_text(encoding="utf-8")))))
