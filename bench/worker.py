"""One worker in its own process, so national.py can sample its RSS with psutil and the
kenflow and baseline figures are comparable (same interpreter, same settings, nothing shared).

    python -m bench.worker kenflow  --address HOST:PORT --db URL --data-dir DIR --task-queue Q
    python -m bench.worker baseline --address HOST:PORT --task-queue Q [--runner stock|compiled] [--polls N]

Prints "ready" once polling; stops on SIGTERM/SIGINT, and then prints one line
`gc <seconds> <full collections>`: the CPU time its garbage collector took (bench/README item 11).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import gc
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class CollectorClock:
    """The garbage collector's CPU time in this process, from gc.callbacks: each collection
    runs in the thread that triggered it, so that thread's CPU clock brackets it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._began = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.thread_time()
            return
        self.seconds += time.thread_time() - self._began
        self.full += info["generation"] == 2


async def main(args: argparse.Namespace) -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    client = await Client.connect(args.address, data_converter=pydantic_data_converter)
    if args.kind == "kenflow":
        import worker as kenflow_worker
        from kenflow.db.engine import make_engine
        from kenflow.settings import Settings

        settings = Settings(
            data_dir=Path(args.data_dir),
            database_url=args.db,
            TEMPORAL_ADDRESS=args.address,
            default_channel="file",
        )
        engine = make_engine(args.db)
        workers = [kenflow_worker.build_worker(client, settings, engine, task_queue=args.task_queue)]
    else:
        from temporalio.worker import PollerBehaviorSimpleMaximum
        from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

        from bench.baseline import BaselineWorkflow, noop
        from kenflow.sandbox import workflow_runner

        workers = [
            Worker(
                client,
                task_queue=args.task_queue,
                workflows=[BaselineWorkflow],
                workflow_runner=workflow_runner() if args.runner == "compiled" else SandboxedWorkflowRunner(),
                activities=[noop],
                activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=64),
                max_concurrent_activities=64,
                # temporalio's default unless --polls (kenflow's worker keeps KENFLOW_WORKFLOW_TASK_POLLS)
                workflow_task_poller_behavior=(
                    PollerBehaviorSimpleMaximum(maximum=args.polls)
                    if args.polls
                    else PollerBehaviorSimpleMaximum()
                ),
            )
        ]
    if args.kind == "kenflow":
        # As `kenflow worker` does. The baseline keeps Python's defaults: frozen, its peak RSS
        # grew from 147 to 170 MB in the 10-year run, which would flatter kenflow's RSS ratio.
        from worker import tune_collector

        tune_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as running:
        for w in workers:
            await running.enter_async_context(w)
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["kenflow", "baseline"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--db", default="")
    parser.add_argument("--data-dir", default=".")
    parser.add_argument("--runner", choices=["stock", "compiled"], default="stock", help="the baseline's")
    parser.add_argument("--polls", type=int, default=0, help="the baseline's workflow-task polls (0: stock)")
    clock = CollectorClock()
    asyncio.run(main(parser.parse_args()))
    print(f"gc {clock.seconds:.3f} {clock.full}", flush=True)
    # Skip interpreter finalization: the SDK's native threads can call into a finalizing
    # interpreter and turn a clean SIGTERM stop into a fatal error (as kenflow/cli/run.py does).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
