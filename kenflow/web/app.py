"""The web application: JSON API under /api (OpenAPI at /openapi.json) and the pages.

`create_app(settings, client=None, engine=None)`: the tests pass the Temporal client and engine
they already hold; served alone (`kenflow web`, which `kenflow up` runs as a child process, or
uvicorn --factory), the app migrates the database and connects to Temporal in its lifespan. If
Temporal is down at start the app still serves pages and reads, and connects on the first act
(503 until then).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware
from temporalio.client import Client

from kenflow.settings import Settings, get_settings

from . import api_acts, api_kpis, api_zones, pages
from .core import TemporalUnavailable, Web
from .errors import GuardMiddleware, install_handlers

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SESSION_DAYS = 7


def secret_key(settings: Settings) -> str:
    """settings.secret_key, else a random key kept in <data_dir>/secret_key (0600), so sessions
    survive a restart without anyone having to configure a secret."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _engine(settings: Settings) -> Engine:
    from kenflow.db.engine import engine_for
    from kenflow.db.migrate import upgrade

    upgrade(settings.db_url)
    return engine_for(settings.db_url)


def create_app(
    settings: Settings | None = None, client: Client | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or get_settings()
    web = Web(settings=settings, engine=engine or _engine(settings))
    if client is not None:
        web.use_client(client)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if web.client is None:
            try:
                await web.service()
            except TemporalUnavailable:
                log.warning("starting without Temporal; acts answer 503 until it is reachable")
        yield

    app = FastAPI(
        title="kenflow API",
        description="定住自立圏・連携中枢都市圏のワークフロー (workflows for cooperation zones). "
        "認証: `kenflow token issue` で発行したトークンを Authorization: Bearer で送信。",
        version="1.0",
        lifespan=lifespan,
    )
    app.state.web = web
    install_handlers(app)
    app.include_router(api_zones.router)
    app.include_router(api_kpis.router)
    app.include_router(api_acts.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings),
        session_cookie="kenflow_session",
        max_age=SESSION_DAYS * 86400,
        same_site="lax",
        https_only=False,
    )
    app.add_middleware(GuardMiddleware)  # added last: outermost
    return app
