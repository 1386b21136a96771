"""The kenflow worker: runs zone workflows and their activities (notices on a queue of their own).

Run it embedded by `kenflow up`, or alone with `kenflow worker` against an existing Temporal
cluster (TEMPORAL_ADDRESS); several workers may share the task queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import importlib.util
import py_compile
import signal
import time

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.delivery import DeliveryActivities
from activities.lanes import DELIVERY_THREADS, PROJECTION_THREADS, Lane
from activities.readmodel import ReadModelActivities
from kenflow.sandbox import workflow_runner
from kenflow.settings import Settings
from workflows import zone as zone_module
from workflows.zone import NOTICE_QUEUE_SUFFIX, ZoneWorkflow


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    task_queue: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Workers:
    """The zone worker, and beside it deliver_notice on `<task queue>-notices` with slots of its
    own, so a burst of copies never queues ahead of the projection a clerk's act waits for.

    deliver_notice stays registered on the main queue too: zones started before the notice
    queue existed replay onto it (workflow.patched in workflows/zone.py).
    """
    queue = task_queue or settings.task_queue
    compile_workflow_module()
    lanes = Lane("projection", PROJECTION_THREADS), Lane("delivery", DELIVERY_THREADS)
    readmodel = ReadModelActivities(engine, lanes[0])
    delivery = DeliveryActivities(engine, settings, lanes[1])
    zones = Worker(
        client,
        task_queue=queue,
        workflows=[ZoneWorkflow],
        workflow_runner=workflow_runner(),
        activities=[readmodel.project_rows, readmodel.project_zone, delivery.deliver_notice],
        activity_executor=executor or concurrent.futures.ThreadPoolExecutor(max_workers=64),
        max_concurrent_activities=64,
        workflow_task_poller_behavior=workflow_polls(settings),
    )
    notices = Worker(
        client,
        task_queue=queue + NOTICE_QUEUE_SUFFIX,
        activities=[delivery.deliver_notice, delivery.deliver_notices],
        max_concurrent_activities=16,
        # acts first: copies set off by a burst of acts follow it instead of slowing it
        max_activities_per_second=settings.delivery_rate or None,
    )
    return Workers(zones, notices, lanes=lanes)


def workflow_polls(settings: Settings) -> PollerBehaviorSimpleMaximum:
    """How many workflow-task polls stay open (KENFLOW_WORKFLOW_TASK_POLLS, 20 by default).

    temporalio keeps five, one of them for new runs. When acts arrive faster than five polls
    come back for more, the server holds the rest in its backlog, and Temporal's time-skipping
    test server serves a backlog last in, first out: in the national bench a zone's act waited
    there 2.5-7 s while newer ones went ahead, until the backlog emptied (bench/README item 18).
    With twenty open, the worker takes tasks as they come, so none waits in the server's backlog
    behind newer ones (the worker then works on them side by side, which makes a burst's
    first acts finish together rather than newest first; item 18). A poll waiting on an idle
    queue costs the worker and the server nothing but a connection."""
    return PollerBehaviorSimpleMaximum(maximum=settings.workflow_task_polls)


def compile_workflow_module() -> None:
    """Write workflows/zone.py's bytecode to __pycache__ once, at start.

    The sandbox imports the workflow module afresh for every run, and every zone continues as
    new each fiscal year. Python reads that import from __pycache__ when the .pyc is current,
    but where none was written (PYTHONDONTWRITEBYTECODE, as on the machines kenflow is tested
    on) it compiles the source again each time: 4% of the worker's CPU in the national bench.
    A read-only install just goes on compiling."""
    source = zone_module.__file__
    if source is None:
        return
    with contextlib.suppress(OSError, py_compile.PyCompileError):
        py_compile.compile(source, cfile=importlib.util.cache_from_source(source), doraise=True)


OLDEST_THRESHOLD = 100  # young collections between CPython's own full collections (its default: 10)
IDLE_CHECK = 0.25  # seconds between looks at the process's CPU time
IDLE_CPU = 0.2  # below this share of one core over a look, the worker is idle


def tune_collector() -> None:
    """Take what a worker process loaded at start out of the garbage collector's sight.

    temporalio, pydantic, SQLAlchemy and the models are ~95k objects that live as long as the
    process, and every full collection scanned them all: 14 full collections of 120-170 ms in
    the national bench's 2-year run, which every update in flight waited out. After
    `gc.freeze()` a full collection scans only what the zones hold (measured with gc.callbacks:
    2.4 s of full collections in that run became 1.7 s; the web process does the same).

    The youngest generations keep CPython's thresholds. Raising the first, (5000, 10, 2), cut
    the collector's time in that run from 4.6 to 2.0 s (~0.6 ms of the worker's 15 per update)
    but raised its peak RSS in the 10-year run from 292 to 312 MB, likely because the cycles
    each activation leaves (tasks, tracebacks holding its payloads) wait longer for a
    collection. Not worth a fifth of the memory headroom.

    The oldest generation's is 100, not 10: full collections are collect_when_idle's to make,
    while nobody waits. At 10, CPython still ran one every few seconds of a burst, most of
    them freeing nothing (the burst's long-lived objects are live zones), each holding every
    act in flight for 20-145 ms; at 100 they were 3 of a 10-year run's 26 full collections
    instead of 7 of 38, and none fell in the formation's burst (bench/README item 19).
    """
    gc.collect()
    gc.freeze()
    gen0, gen1, _ = gc.get_threshold()
    gc.set_threshold(gen0, gen1, OLDEST_THRESHOLD)


async def collect_when_idle(check: float = IDLE_CHECK, idle: float = IDLE_CPU) -> None:
    """Run the garbage collector's full collections while the worker is idle.

    When a fiscal year turns, every zone continues as new, and the run it leaves behind (its
    workflow instance, the sandbox's copy of workflows/zone.py, its state: cycles, some 500
    objects a zone) is garbage that only a full collection frees. CPython ran that collection whenever
    its counters said so, which was most often in the next burst of acts: in the national
    bench, 29 full collections of up to 280 ms (60,000-94,000 objects freed by the largest),
    and 69 of kenflow's 135 slowest updates were waiting on one (bench/README item 19).

    This looks at the process's CPU time every `check` seconds; when the last look found it
    idle and a young collection has happened since the last full one, it collects in full
    there and then. The work is the same, but it is done while nobody waits for the worker:
    in the same bench every collection that freed a year's runs fell where no act was in
    flight. CPython's own full collections still run, ten times less often in a worker process
    (tune_collector), for a worker that is never idle.
    """
    last_cpu, last_at = time.process_time(), time.perf_counter()
    while True:
        await asyncio.sleep(check)
        cpu, at = time.process_time(), time.perf_counter()
        busy = (cpu - last_cpu) / max(at - last_at, check)
        last_cpu, last_at = cpu, at
        if busy < idle and gc.get_count()[2] > 0:
            gc.collect()
            last_cpu, last_at = time.process_time(), time.perf_counter()


class Workers:
    """Several temporalio Workers behind the one-Worker interface callers use
    (`async with`, `run()`, `shutdown()`), the thread lanes their activities use, and the idle
    collector (collect_when_idle) beside them, stopped once the workers have finished their
    tasks."""

    def __init__(self, *workers: Worker, lanes: tuple[Lane, ...] = ()) -> None:
        self.workers = workers
        self.lanes = lanes
        self._collector: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Workers:
        for w in self.workers:
            await w.__aenter__()
        self._start_collector()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for w in reversed(self.workers):
                await w.__aexit__(*exc)  # type: ignore[arg-type]
        finally:
            self._stop_background()

    async def run(self) -> None:
        self._start_collector()
        try:
            await asyncio.gather(*(w.run() for w in self.workers))
        finally:
            self._stop_background()

    def _start_collector(self) -> None:
        if self._collector is None:
            self._collector = asyncio.create_task(collect_when_idle(), name="kenflow-idle-gc")

    async def shutdown(self) -> None:
        await asyncio.gather(*(w.shutdown() for w in self.workers))

    def _stop_background(self) -> None:
        if self._collector is not None:
            self._collector.cancel()
            self._collector = None
        for lane in self.lanes:
            lane.shutdown()


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    from kenflow.db.engine import engine_for
    from kenflow.db.migrate import upgrade
    from kenflow.temporal import connect, register_search_attributes

    standalone = stop is None
    if stop is None:
        # Standalone (`kenflow worker`): SIGTERM from a service manager finishes the tasks in
        # hand and leaves the queue to the other workers, instead of dropping them mid-task.
        # Taken before anything else, so a SIGTERM while it starts is a clean exit too.
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    upgrade(settings.db_url)
    client = await connect(settings)
    await register_search_attributes(client)
    if stop.is_set():
        return
    worker = build_worker(client, settings, engine_for(settings.db_url))
    tune_collector()
    async with worker:
        if standalone:  # `kenflow up` prints its own banner
            print(f"kenflow worker: polling {settings.task_queue} on {settings.temporal_target}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    from kenflow.settings import get_settings

    asyncio.run(run_worker(get_settings()))
