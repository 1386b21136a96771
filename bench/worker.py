"""One worker in its own process, so national.py can sample its RSS with psutil and the
kenflow and baseline figures are comparable (same interpreter, same settings, nothing shared).

    python -m bench.worker kenflow  --address HOST:PORT --db URL --data-dir DIR --task-queue Q
    python -m bench.worker baseline --address HOST:PORT --task-queue Q

Prints "ready" once polling; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
        from bench.baseline import BaselineWorkflow, noop

        workers = [
            Worker(
                client,
                task_queue=args.task_queue,
                workflows=[BaselineWorkflow],
                activities=[noop],
                activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=64),
                max_concurrent_activities=64,
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
    asyncio.run(main(parser.parse_args()))
    # Skip interpreter finalization: the SDK's native threads can call into a finalizing
    # interpreter and turn a clean SIGTERM stop into a fatal error (as kenflow/cli/run.py does).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
