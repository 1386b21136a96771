"""Shared fixtures: real Temporal servers from PyPI (nothing downloaded at run time)."""

from __future__ import annotations

import pytest_asyncio

from tests.web_fixtures import temporal_env


@pytest_asyncio.fixture
async def skip_env():
    """A fresh time-skipping test server per test (about 0.1 s to start)."""
    async with temporal_env() as env:
        yield env


from tests.db_fixtures import *  # noqa: E402,F401,F403  (db_url, engine: SQLite and PostgreSQL)
from tests.delivery_fixtures import http_receiver, kenflow, kf_db, smtp_server  # noqa: E402, F401
from tests.web_fixtures import web, web_module  # noqa: E402, F401
