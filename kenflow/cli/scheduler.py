"""`kenflow scheduler`: run the yearly calendar alone, against an existing Temporal cluster.

`kenflow up` runs the same scheduler embedded; only one may run per database, and a second
one exits 1 with the lock holder's name instead of firing the calendar twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import typer

from kenflow.cli import app
from kenflow.settings import get_settings


async def _run() -> None:
    from kenflow.db.migrate import upgrade
    from kenflow.scheduler import run_scheduler
    from kenflow.temporal import connect

    settings = get_settings()
    upgrade(settings.db_url)
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    await run_scheduler(settings, client, stop)


@app.command("scheduler")
def scheduler_command() -> None:
    """年次予定（4月1日の年度振り返り依頼）を実行 (run the yearly calendar)."""
    from kenflow.scheduler import SchedulerLocked

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_run())
    except SchedulerLocked as err:
        typer.echo(f"エラー (error): {err}", err=True)
        raise typer.Exit(1) from None
