"""Commands that run parts of the system: `up` (everything, embedded), `worker` and `web`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import typer

from ..settings import Settings
from . import app


def _exit_after_clean_shutdown(code: int = 0) -> None:
    """Leave without interpreter finalization once everything has stopped cleanly.

    The Temporal SDK's native runtime keeps threads that can call back into Python while the
    interpreter tears down ("PyGILState_Release ... finalizing"), turning a clean SIGTERM
    shutdown into a crash with a non-zero status. All work is finished and flushed here.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()


@app.command("up")
def up(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="データの保存先 (default ./.kenflow)"),
    no_web: bool = typer.Option(False, "--no-web", help="Web/API を起動しない"),
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="年次スケジューラを起動しない"),
) -> None:
    """全体を起動します: Temporal サーバー・ワーカー・年次スケジューラ・Web/API (start everything)."""
    from ..up import AlreadyRunning, console, data_dir_lock, run_up

    settings = _settings(data_dir)
    try:
        with data_dir_lock(settings.data_dir):
            asyncio.run(run_up(settings, web=not no_web, scheduler=not no_scheduler))
        _exit_after_clean_shutdown()
    except AlreadyRunning as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1) from None
    except (RuntimeError, TimeoutError, FileNotFoundError) as err:
        console.print(f"[red]{err}[/]")
        raise typer.Exit(1) from None


@app.command("worker")
def worker(data_dir: Path | None = typer.Option(None, "--data-dir")) -> None:
    """ワーカーだけを起動します (TEMPORAL_ADDRESS のクラスタへ接続; several may run at once)."""
    from worker import run_worker

    asyncio.run(run_worker(_settings(data_dir)))
    _exit_after_clean_shutdown()


@app.command("web")
def web(data_dir: Path | None = typer.Option(None, "--data-dir")) -> None:
    """Web/API だけを起動します (the pages and API alone; TEMPORAL_ADDRESS and the database as set)."""
    from ..web.serve import serve

    try:
        asyncio.run(serve(_settings(data_dir)))
    except KeyboardInterrupt:  # uvicorn hands Ctrl-C back once it has shut down cleanly
        pass
    _exit_after_clean_shutdown()
