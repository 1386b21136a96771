"""Outgrowing one machine: with TEMPORAL_ADDRESS and a PostgreSQL URL set, nothing embedded
starts; `kenflow db upgrade` prepares the database, and several `kenflow worker` processes share
the task queue, so a zone keeps going when one of them stops."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from sqlmodel import Session, select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kenflow.db.engine import make_engine
from kenflow.db.tables import MunicipalityRow, ZoneRow
from kenflow.service import ZoneService
from kenflow.temporal import register_search_attributes
from models.fiscal import jst_date
from tests import zone_kit as k
from tests.db_fixtures import _pg_database
from tests.factories import HIKONE, NEIGHBOURS
from tests.web_fixtures import dev_server


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_database()


@pytest.fixture
async def cluster():
    """A Temporal server kenflow did not start: the stand-in for a team's own cluster."""
    async with dev_server(data_converter=pydantic_data_converter) as env:
        await register_search_attributes(env.client)
        yield env


def kenflow_env(cluster: WorkflowEnvironment, pg_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KENFLOW_", "TEMPORAL_"))}
    env.update(
        TEMPORAL_ADDRESS=cluster.client.service_client.config.target_host,
        KENFLOW_DATABASE_URL=pg_url,
        KENFLOW_DATA_DIR=str(data_dir),
    )
    return env


def spawn(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "kenflow", *args], env=env, stdout=out, stderr=out)


async def wait_for_line(log: Path, proc: subprocess.Popen[bytes], line: str, within: float = 60) -> None:
    """Until the process has written `line` to its log; fails if it exits or takes too long."""

    def text() -> str:  # a few KB, read between sleeps
        return log.read_text(errors="replace")

    for _ in range(int(within / 0.1)):
        if line in text():
            return
        assert proc.poll() is None, text()
        await asyncio.sleep(0.1)
    pytest.fail(f"{line!r} not in the log after {within} s: {text()}")


async def test_two_workers_on_an_external_cluster_and_postgresql(cluster, pg_url, tmp_path) -> None:
    env = kenflow_env(cluster, pg_url, tmp_path)
    upgrade = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "kenflow", "db", "upgrade"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    engine = make_engine(pg_url)
    with Session(engine) as s:
        assert s.exec(select(MunicipalityRow).where(MunicipalityRow.code == HIKONE.code)).first() is not None

    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [spawn("worker", env=env, log=log) for log in logs]
    try:
        for log, w in zip(logs, workers, strict=True):  # both poll before one is stopped
            await wait_for_line(log, w, "kenflow worker: polling")
        service = ZoneService(cluster.client)
        today = jst_date(await cluster.get_current_time())
        zone_id = await service.start_zone(k.declare_start([HIKONE], today))
        await asyncio.wait_for(service.act(zone_id, k.draft(HIKONE, NEIGHBOURS[0], today)), 60)

        workers[0].send_signal(signal.SIGTERM)  # one worker goes away; the other carries on
        assert await asyncio.to_thread(workers[0].wait, 60) == 0
        await asyncio.wait_for(service.act(zone_id, k.resolution(HIKONE, NEIGHBOURS[0], today)), 60)
        await asyncio.wait_for(service.act(zone_id, k.resolution(NEIGHBOURS[0], NEIGHBOURS[0], today)), 60)

        with Session(engine) as s:
            row = s.get(ZoneRow, zone_id)
            assert row is not None and row.version == 3 and row.phase == "vision"
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(60)
        engine.dispose()


async def test_up_with_temporal_address_starts_no_embedded_server(cluster, pg_url, tmp_path) -> None:
    env = kenflow_env(cluster, pg_url, tmp_path)
    log = tmp_path / "up.log"
    up = spawn("up", "--no-web", "--no-scheduler", env=env, log=log)
    try:
        await wait_for_line(log, up, "kenflow は起動しました")
        text = log.read_text()
        assert "Temporal (外部)" in text and "Temporal Web UI" not in text
        names = [p.name() for p in psutil.Process(up.pid).children(recursive=True)]
        assert "temporal" not in names
    finally:
        up.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(up.wait, 60) == 0
