"""Real servers for the fault tests: the `temporal` dev server persisting to SQLite, started
exactly as `kenflow up` starts it (kenflow.up.start_temporal: free ports, search attributes
registered by flag), and the kenflow worker in a subprocess that a test may SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from sqlalchemy import Engine, text
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from kenflow.db.engine import make_engine
from kenflow.db.migrate import upgrade
from kenflow.service import ZoneService
from kenflow.settings import Settings
from kenflow.up import start_temporal, stop_process, wait_for_temporal
from tests.delivery_fixtures import free_port

ROOT = Path(__file__).resolve().parent.parent


class DevServer:
    """The dev server on a SQLite file under `data_dir`; stop() and start() keep the file and
    the ports, so clients and workers reconnect to the same address."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(
            data_dir=data_dir,
            temporal_port=free_port(),
            temporal_ui_port=free_port(),
            database_url=f"sqlite:///{data_dir / 'kenflow.db'}",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return self.settings.temporal_target

    async def start(self) -> Client:
        self.proc = start_temporal(self.settings)
        return await wait_for_temporal(self.settings, self.proc, within=60)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


class WorkerProc:
    """tests/worker_proc.py against the server and read model; kill() is SIGKILL, no goodbye."""

    def __init__(self, server: DevServer, task_queue: str) -> None:
        self.server, self.task_queue = server, task_queue
        self.proc: subprocess.Popen[str] | None = None

    async def start(self) -> None:
        s = self.server.settings
        cmd = [
            sys.executable,
            "-m",
            "tests.worker_proc",
            "--address",
            self.server.address,
            "--db",
            s.db_url,
            "--data-dir",
            str(s.data_dir),
            "--task-queue",
            self.task_queue,
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = await asyncio.to_thread(
            subprocess.Popen, cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 60)
        assert line.strip() == "ready", f"worker did not start: {line!r}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Stack:
    server: DevServer
    client: Client
    worker: WorkerProc
    service: ZoneService
    engine: Engine


@pytest_asyncio.fixture(name="stack")
async def stack_fixture(tmp_path: Path) -> AsyncIterator[Stack]:
    """Dev server on SQLite + migrated read model + the real worker in a subprocess."""
    server = DevServer(tmp_path)
    upgrade(server.settings.db_url)
    engine = make_engine(server.settings.db_url)
    try:
        client = await server.start()
        worker = WorkerProc(server, f"faults-{uuid.uuid4().hex[:8]}")
        await worker.start()
        try:
            yield Stack(server, client, worker, ZoneService(client, worker.task_queue), engine)
        finally:
            worker.stop()
    finally:
        server.stop()
        engine.dispose()


async def events(handle: WorkflowHandle) -> list:
    """Every history event of the zone, across continue-as-new runs of its current chain."""
    return [e async for e in handle.fetch_history_events()]


async def settled_events(handle: WorkflowHandle, quiet: float = 0.6) -> list:
    """The history once nothing has been added for `quiet` seconds: a zone's start-up work
    (projection, search attributes) lands after the start call returns."""
    seen = await events(handle)
    for _ in range(100):
        await asyncio.sleep(quiet / 3)
        now = await events(handle)
        if len(now) == len(seen):
            await asyncio.sleep(quiet)
            again = await events(handle)
            if len(again) == len(now):
                return again
            now = again
        seen = now
    return seen


async def task_failures(handle: WorkflowHandle) -> list[str]:
    return [
        e.workflow_task_failed_event_attributes.failure.message
        for e in await events(handle)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


def audit_seqs(engine: Engine, zone_id: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT seq FROM audit WHERE zone_id = :z AND result = 'accepted' ORDER BY seq"),
            {"z": zone_id},
        )
        return [int(r[0]) for r in rows]


async def until(check: Callable[[], Awaitable[bool] | bool], within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
