"""What makes each workflow run and each update cheaper in a long-running worker.

The sandbox imports workflows/zone.py afresh for every run (each zone continues as new every
fiscal year): the worker writes its bytecode at start, so that import reads a .pyc instead of
compiling the source again (even where PYTHONDONTWRITEBYTECODE is set), and the module's type
hints are objects, not strings temporalio would compile and evaluate on every run. The worker
process freezes what it loaded at start out of the collector's sight (worker.tune_collector),
and collects in full while it is idle rather than in the middle of a burst of acts
(worker.collect_when_idle)."""

from __future__ import annotations

import asyncio
import gc
import importlib.machinery
import importlib.util
import inspect
import json
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum

import worker
from kenflow.settings import Settings
from models import acts as A
from tests.delivery_fixtures import KenflowDb
from workflows import zone


def test_the_workflow_module_is_compiled_once_at_start() -> None:
    source = Path(zone.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)

    worker.compile_workflow_module()

    assert cached.exists()
    # What the import system checks before it trusts a .pyc: magic number and source mtime.
    header = cached.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[8:12], "little") == int(source.stat().st_mtime) & 0xFFFFFFFF
    loader = importlib.machinery.SourceFileLoader("workflows.zone", str(source))
    assert loader.get_code("workflows.zone") is not None  # reads the .pyc above without error


def test_the_workflow_handlers_type_hints_are_evaluated_once_at_definition() -> None:
    handlers = [
        f
        for name, f in vars(zone.ZoneWorkflow).items()
        if inspect.isfunction(f) and not name.startswith("__") and f.__annotations__
    ]
    names = {f.__name__ for f in handlers}
    assert {"run", "act", "_v_act", "state_query"} <= names  # the acts' one Update, its validator
    for f in handlers:
        for hint in f.__annotations__.values():
            assert not isinstance(hint, str), f"{f.__name__}: {hint!r} is evaluated on every run"
    assert zone.ZoneWorkflow.__dict__["run"].__annotations__["inp"] is zone.ZoneInput
    assert zone.ZoneWorkflow.__dict__["act"].__annotations__["return"] is A.ActResult


def test_a_worker_process_freezes_what_it_loaded() -> None:
    probe = (
        "import gc, json, worker; before = gc.get_freeze_count(); worker.tune_collector(); "
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(worker.__file__).parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    before, frozen, thresholds = json.loads(out)
    assert before == 0
    assert frozen > 10_000  # temporalio, pydantic, SQLAlchemy and the models, at least
    # CPython's for the young generations (higher ones cost peak RSS); full collections are
    # made while the worker is idle (worker.collect_when_idle), CPython's own ten times rarer
    assert tuple(thresholds) == (700, 10, worker.OLDEST_THRESHOLD) == (700, 10, 100)


async def test_the_zone_worker_keeps_the_configured_workflow_polls_open(
    skip_env: WorkflowEnvironment, kf_db: KenflowDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty by default (temporalio's five let a burst of acts wait in the server's backlog,
    bench/README item 18); KENFLOW_WORKFLOW_TASK_POLLS changes it."""
    built = worker.build_worker(skip_env.client, kf_db.settings, kf_db.engine, task_queue="polls-default")
    assert built.workers[0].config()["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(
        maximum=20
    )

    monkeypatch.setenv("KENFLOW_WORKFLOW_TASK_POLLS", "8")
    settings = Settings(data_dir=kf_db.settings.data_dir, database_url=kf_db.settings.database_url)
    built = worker.build_worker(skip_env.client, settings, kf_db.engine, task_queue="polls-eight")
    assert built.workers[0].config()["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(
        maximum=8
    )


async def test_the_copies_worker_is_paced_by_the_delivery_rate(
    skip_env: WorkflowEnvironment, kf_db: KenflowDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies at most 15 batches a second by default, so a burst of acts is answered first
    (bench/README item 24); the zones' own queue (acts, projections) is never paced."""
    built = worker.build_worker(skip_env.client, kf_db.settings, kf_db.engine, task_queue="paced")
    zones, copies = built.workers
    assert copies.config()["task_queue"] == "paced-notices"
    assert copies.config()["max_activities_per_second"] == 15
    assert zones.config().get("max_activities_per_second") is None

    for value, expected in (("4.5", 4.5), ("0", None)):  # 0: no limit
        monkeypatch.setenv("KENFLOW_DELIVERY_RATE", value)
        settings = Settings(data_dir=kf_db.settings.data_dir, database_url=kf_db.settings.database_url)
        built = worker.build_worker(skip_env.client, settings, kf_db.engine, task_queue=f"paced-{value}")
        assert built.workers[1].config()["max_activities_per_second"] == expected
    monkeypatch.setenv("KENFLOW_DELIVERY_RATE", "-1")
    with pytest.raises(ValidationError, match="delivery_rate"):
        Settings()


def test_fewer_than_two_workflow_polls_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KENFLOW_WORKFLOW_TASK_POLLS", "1")  # one for new runs, one for the rest
    with pytest.raises(ValidationError, match="workflow_task_polls"):
        Settings()


class _Cycle:
    me: object


def _garbage_cycle_in_the_oldest_generation() -> threading.Event:
    """A cycle only a full collection frees (as a zone's run left behind at continue-as-new),
    with a young collection counted since the last full one; the event is set once it is freed."""
    freed = threading.Event()
    cycle = _Cycle()
    cycle.me = cycle
    weakref.finalize(cycle, freed.set)
    gc.collect()  # it survives into the oldest generation
    del cycle
    gc.collect(1)  # a young collection: it does not look at the oldest generation
    assert not freed.is_set()
    return freed


def _spin(until: float) -> None:
    while time.perf_counter() < until:
        pass


async def test_the_worker_collects_in_full_when_idle_and_not_while_busy() -> None:
    gc.disable()  # only worker.collect_when_idle may collect here
    collector = asyncio.create_task(worker.collect_when_idle(check=0.1))
    try:
        freed = _garbage_cycle_in_the_oldest_generation()
        busy = threading.Thread(target=_spin, args=(time.perf_counter() + 0.8,))
        busy.start()
        await asyncio.sleep(0.6)
        assert not freed.is_set(), "collected while the process was busy"
        busy.join()
        for _ in range(100):
            if freed.is_set():
                break
            await asyncio.sleep(0.05)
        assert freed.is_set(), "not collected once the process was idle"
    finally:
        collector.cancel()
        gc.enable()


async def test_a_built_worker_collects_while_it_waits_for_tasks(
    skip_env: WorkflowEnvironment, kf_db: KenflowDb
) -> None:
    gc.disable()
    try:
        built = worker.build_worker(skip_env.client, kf_db.settings, kf_db.engine, task_queue="idle-gc")
        async with built:
            freed = _garbage_cycle_in_the_oldest_generation()
            for _ in range(100):
                if freed.is_set():
                    break
                await asyncio.sleep(0.05)
            assert freed.is_set()
    finally:
        gc.enable()
