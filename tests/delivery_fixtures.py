"""Fixtures for notices and the calendar: a migrated SQLite database, real recipients (an
aiosmtpd SMTP server and a threaded HTTP server on 127.0.0.1) and a kenflow worker on the
time-skipping Temporal server. Imported by conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import email
import json
import random
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from temporalio.testing import WorkflowEnvironment

from kenflow.db.engine import make_engine
from kenflow.db.migrate import upgrade
from kenflow.service import ZoneService
from kenflow.settings import Settings


@contextlib.contextmanager
def serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A real HTTP server on a free port in a thread, for as long as the block runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# Below Linux's ephemeral range (32768-60999): a port the kernel picked for bind(0) could be
# handed to some outgoing connection before the server meant to listen on it starts (seen once:
# `kenflow up`'s Temporal UI port taken, the server exiting with "address already in use").
_PORTS = range(20_000, 32_000)


def free_port() -> int:
    """A port nothing listens on now, outside the range outgoing connections draw from."""
    for port in random.sample(_PORTS, 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


async def eventually(
    check: Callable[[], Awaitable[bool] | bool],
    *,
    within: float = 30.0,
    env: WorkflowEnvironment | None = None,
    skip: timedelta = timedelta(seconds=20),
) -> None:
    """Wait until `check` holds. With `env`, each round also skips Temporal's clock by `skip`,
    so activity retry backoff passes without waiting for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        if env is not None:
            await env.sleep(skip)
        await asyncio.sleep(0.1)


@dataclass
class KenflowDb:
    settings: Settings
    engine: Engine


@pytest.fixture
def kf_db(tmp_path: Path) -> Iterator[KenflowDb]:
    """Settings pointing at a fresh, migrated SQLite database and outbox under tmp_path."""
    url = f"sqlite:///{tmp_path / 'kenflow.db'}"
    settings = Settings(
        data_dir=tmp_path,
        database_url=url,
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_from="kenflow@example.jp",
        default_channel="file",
    )
    upgrade(url)
    engine = make_engine(url)
    yield KenflowDb(settings, engine)
    engine.dispose()


# --------------------------------------------------------------------------- SMTP


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=default_policy))
        return "250 Message accepted for delivery"

    def with_id(self, message_id: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["Message-ID"] == message_id]


class SmtpServer:
    """aiosmtpd on a fixed port that can be started late (the recipient was down)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = _Inbox()
        self._controller: Controller | None = None

    async def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        await asyncio.to_thread(self._controller.start)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest_asyncio.fixture
async def smtp_server(kf_db: KenflowDb) -> AsyncIterator[SmtpServer]:
    """Not listening until the test calls start(); on kf_db's smtp_port."""
    server = SmtpServer(kf_db.settings.smtp_port)
    yield server
    server.stop()


# --------------------------------------------------------------------------- HTTP


@dataclass
class HttpReceiver:
    """A webhook endpoint answering from a script: each request takes the next status, the
    last one repeats."""

    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[dict] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/kenflow/notices"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "json": json.loads(body),
                    }
                )
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
            payload = json.dumps({"status": status}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    with serve_http(Handler) as receiver.port:
        yield receiver


# --------------------------------------------------------------------------- Temporal


@dataclass
class Kenflow:
    env: WorkflowEnvironment
    service: ZoneService
    db: KenflowDb


@pytest_asyncio.fixture
async def kenflow(skip_env: WorkflowEnvironment, kf_db: KenflowDb) -> AsyncIterator[Kenflow]:
    """The real worker (zone workflow, projection, delivery) on the time-skipping server."""
    from worker import build_worker

    task_queue = f"kenflow-{uuid.uuid4().hex[:8]}"
    worker = build_worker(skip_env.client, kf_db.settings, kf_db.engine, task_queue=task_queue)
    async with worker:
        yield Kenflow(skip_env, ZoneService(skip_env.client, task_queue), kf_db)
