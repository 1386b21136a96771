"""Real Temporal servers from PyPI for the bench: the time-skipping test server, or the dev
server in memory or on a SQLite file (as `kenflow up` runs it)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kenflow.temporal import register_search_attributes
from workflows.search import ALL_KEYS


@dataclass
class Server:
    kind: str
    client: Client
    address: str
    now: Callable[[], Awaitable[datetime]]
    sleep: Callable[[timedelta], Awaitable[None]] | None  # None: a real clock


def _which(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is not installed (pip install -e '.[test]')")
    return path


def _skipper(env: WorkflowEnvironment) -> Callable[[timedelta], Awaitable[None]]:
    """env.sleep with a long RPC timeout: skipping a fiscal year fires every zone's timers and
    continue-as-new, and the server answers only once they have all run (minutes for 140
    zones on two cores, past the default RPC deadline)."""

    async def sleep(duration: timedelta) -> None:
        req = SleepRequest()
        req.duration.FromTimedelta(duration)
        await env.client.test_service.unlock_time_skipping_with_sleep(req, timeout=timedelta(minutes=30))

    return sleep


@asynccontextmanager
async def open_server(kind: str, workdir: Path | None = None) -> AsyncIterator[Server]:
    if kind == "skip":
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=_which("temporal-test-server"), data_converter=pydantic_data_converter
        )
        sleep: Callable[[timedelta], Awaitable[None]] | None = _skipper(env)
    else:
        db = None
        if kind == "dev-file":
            db = str(Path(workdir or tempfile.mkdtemp(prefix="kenflow-bench-")) / "temporal.db")
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=_which("temporal"),
            data_converter=pydantic_data_converter,
            search_attributes=ALL_KEYS,
            dev_server_database_filename=db,
            dev_server_log_level="error",
        )
        sleep = None
    async with env:
        await register_search_attributes(env.client)
        address = env.client.service_client.config.target_host
        yield Server(kind, env.client, address, env.get_current_time, sleep)
