"""The real kenflow worker in a process of its own, so a fault test can SIGKILL it.

    python -m tests.worker_proc --address HOST:PORT --db URL --data-dir DIR --task-queue Q

Builds the worker exactly as `kenflow worker` does (worker.build_worker, the pydantic data
converter, the read model at --db) and prints "ready" once it polls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path


async def main(args: argparse.Namespace) -> None:
    import worker as kenflow_worker
    from kenflow.db.engine import make_engine
    from kenflow.settings import Settings
    from kenflow.temporal import connect

    # TEMPORAL_ADDRESS is the field's alias (the name Temporal's own tools read).
    settings = Settings(data_dir=Path(args.data_dir), database_url=args.db, TEMPORAL_ADDRESS=args.address)
    client, engine = await connect(settings), make_engine(args.db)
    workers = [kenflow_worker.build_worker(client, settings, engine, task_queue=args.task_queue)]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as running:
        for w in workers:
            await running.enter_async_context(w)
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--task-queue", default="kenflow")
    asyncio.run(main(parser.parse_args()))
    # Skip interpreter finalization: the SDK's native threads can call into a finalizing
    # interpreter and turn a clean SIGTERM stop into a fatal error (as kenflow/cli/run.py does).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
