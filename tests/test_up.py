"""`kenflow up` end to end: a real embedded Temporal server on SQLite, stopped and started
again on the same data directory. Zones must survive; nothing may be left running, whether
`up` is stopped by SIGTERM or killed outright; the web process runs apart, at our priority,
and everything else at the background one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kenflow.service import ZoneService
from kenflow.settings import Settings
from kenflow.temporal import connect
from models import acts as A
from models.fiscal import jst_date
from tests.delivery_fixtures import free_port
from tests.factories import HIKONE, NEIGHBOURS, actor_of, initiatives, start

READY = "kenflow は起動しました"


def up_env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KENFLOW_", "TEMPORAL_"))}
    env.update(
        KENFLOW_DATA_DIR=str(data_dir),
        KENFLOW_TEMPORAL_PORT=str(ports["grpc"]),
        KENFLOW_TEMPORAL_UI_PORT=str(ports["ui"]),
        KENFLOW_WEB_PORT=str(ports["web"]),
    )
    return env


def start_up(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    offset = log.stat().st_size if log.exists() else 0
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "kenflow", "up"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if READY in log.read_bytes()[offset:].decode(errors="replace"):
            return proc
        if proc.poll() is not None:
            pytest.fail(f"kenflow up exited early:\n{log.read_text(errors='replace')}")
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"kenflow up did not become ready:\n{log.read_text(errors='replace')}")


def stop_up(proc: subprocess.Popen[bytes]) -> list[int]:
    """SIGTERM, as Ctrl-C or a service manager would; returns the pids of its children."""
    children = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    return children


def running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def layout(proc: subprocess.Popen[bytes]) -> dict[str, psutil.Process]:
    """`up`'s children by role: the embedded Temporal server and the web process."""
    out = {}
    for child in psutil.Process(proc.pid).children():
        cmd = " ".join(child.cmdline())
        if "start-dev" in cmd:
            out["temporal"] = child
        elif cmd.endswith("kenflow web"):
            out["web"] = child
    return out


def thread_nices(pid: int) -> set[int]:
    """Linux keeps a nice value per thread; `up` must have lowered every one of its own."""
    return {os.getpriority(os.PRIO_PROCESS, t.id) for t in psutil.Process(pid).threads()}


@pytest.fixture
def up_dirs(tmp_path: Path):
    ports = {"grpc": free_port(), "ui": free_port(), "web": free_port()}
    return tmp_path / "data", ports, up_env(tmp_path / "data", ports), tmp_path / "up.log"


async def test_zone_survives_restart_and_nothing_is_left_running(up_dirs) -> None:
    data_dir, ports, env, log = up_dirs
    settings = Settings(data_dir=data_dir, temporal_port=ports["grpc"])
    proc = start_up(env, log)
    try:
        text = log.read_text()
        assert f"127.0.0.1:{ports['grpc']}" in text and f"http://127.0.0.1:{ports['ui']}" in text
        # Interactive work first: the web process keeps our priority, the Temporal server and
        # `up` itself (the worker) run at Settings.background_nice.
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        background = max(ours, Settings.model_fields["background_nice"].default)
        kids = layout(proc)
        assert set(kids) == {"temporal", "web"}
        assert kids["web"].nice() == ours
        assert kids["temporal"].nice() == background
        assert thread_nices(proc.pid) == {background}
        # A second `up` on the same data directory refuses instead of corrupting it.
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "kenflow", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "使用中" in second.stderr and "already running" in second.stderr.replace("\n", " ")

        client = await connect(settings)
        service = ZoneService(client)
        today = jst_date(time_now())
        zone_id = await service.start_zone(start(declared_on=today))
        await service.act(
            zone_id,
            A.DraftAgreement(
                actor=actor_of(HIKONE), neighbour=NEIGHBOURS[0], initiatives=initiatives(), drafted_on=today
            ),
        )
        before = await service.state(zone_id)
    finally:
        children = stop_up(proc)
    assert len(children) >= 2, "kenflow up should have started the Temporal server and the web process"
    assert not running(children)

    proc = start_up(env, log)
    try:
        client = await connect(settings)
        after = await ZoneService(client).state(zone_id)
        assert after.version == before.version == 1
        assert after.phase == before.phase
        assert list(after.agreements) == [NEIGHBOURS[0].code]
        import httpx

        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{ports['web']}/api/health", timeout=10)
        assert health.status_code == 200
        listed = await wait_listed(ports["grpc"], zone_id)
        assert zone_id in listed
        children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no clean-up in `up` at all
            proc.wait(10)
    # Every child dies with `up` even so (PR_SET_PDEATHSIG), the web process as the server.
    _, alive = await asyncio.to_thread(psutil.wait_procs, children, 30)
    survivors = running([p.pid for p in alive])
    for p in alive:  # a failure here must not leave them running either
        with contextlib.suppress(psutil.Error):
            p.kill()
    assert len(children) >= 2 and not survivors


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def wait_listed(port: int, zone_id: str) -> str:
    """`temporal workflow list` (the Temporal CLI itself) finds the zone by search attribute;
    visibility is eventually consistent, so poll briefly."""
    from kenflow.up import temporal_binary

    out = ""
    for _ in range(40):
        done = await asyncio.to_thread(
            subprocess.run,
            [
                temporal_binary(),
                "workflow",
                "list",
                "--address",
                f"127.0.0.1:{port}",
                "--query",
                "KenflowPhase='agreements' AND KenflowPrefectures='25'",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        out = done.stdout
        if zone_id in out:
            return out
        await asyncio.sleep(0.5)
    return out
