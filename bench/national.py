"""The national programme on a real Temporal server, against a bare-Temporal baseline.

    python bench/national.py [--zones 140] [--years 10] [--server skip|dev|dev-file]

N zones each form (agreements, resolutions, vision, council, consultations, publication),
then run Y fiscal years of PDCA, every act an Update through ZoneService.act, 50 clients at
once. In the same run, on the same server, bench/baseline.py does the same number of
workflows, updates and activities. Each worker runs in its own subprocess so their peak RSS
compare. Then 500-row bulk KPI imports against one-row acts. The last line printed is one
JSON object (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scenario as S  # noqa: E402
from bench.baseline import BaselineAct, BaselineStart, BaselineWorkflow  # noqa: E402
from bench.measure import CpuMeter, Timings, WorkerProcess, percentile, pool, quiesce  # noqa: E402
from bench.servers import Server, open_server  # noqa: E402
from kenflow.db.migrate import upgrade  # noqa: E402
from kenflow.service import ZoneService  # noqa: E402
from models import acts as A  # noqa: E402
from models.fiscal import fiscal_year_of, fiscal_year_start, jst_date  # noqa: E402

BULK_KPIS, BULK_YEARS = 50, 10  # 500 rows in one update


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Baseline:
    """The bare-Temporal side: same zones, same updates, same activities per update."""

    task_queue = "bench-baseline"

    def __init__(self, server: Server, zones: list[S.Zone], runner: str, polls: int) -> None:
        self.server, self.t, self.runner, self.polls = server, Timings(), runner, polls
        self.handles: dict[str, WorkflowHandle] = {}
        self.seq = dict.fromkeys((z.zone_id for z in zones), 0)

    def worker(self) -> WorkerProcess:
        return WorkerProcess(
            "baseline",
            "--address",
            self.server.address,
            "--task-queue",
            self.task_queue,
            "--runner",
            self.runner,
            "--polls",
            str(self.polls),
        )

    async def each(self, z: S.Zone, p: int) -> None:
        if p == 0:
            self.handles[z.zone_id] = await self.server.client.start_workflow(
                BaselineWorkflow.run,
                BaselineStart(zone=z.zone_id, notices=z.start_notices),
                id=f"baseline-{z.zone_id}",
                task_queue=self.task_queue,
            )
        for n in z.notices[p]:
            self.seq[z.zone_id] += 1
            act = BaselineAct(seq=self.seq[z.zone_id], notices=n)
            await self.t.timed(self.handles[z.zone_id].execute_update(BaselineWorkflow.act, act), "act")

    async def drain(self) -> None:
        """Its no-op deliveries finish within the quiesce that follows."""


class Kenflow:
    """kenflow's side: the real worker, every act through ZoneService.act."""

    task_queue = "bench-kenflow"

    def __init__(self, server: Server, workdir: Path) -> None:
        self.server, self.t = server, Timings()
        self.db = f"sqlite:///{workdir / 'kenflow.db'}"
        self.workdir = workdir
        self.service = ZoneService(server.client, self.task_queue)
        self.drain_s = 0.0  # after its acts, until every copy they set off was sent
        upgrade(self.db)

    def worker(self) -> WorkerProcess:
        return WorkerProcess(
            "kenflow",
            "--address",
            self.server.address,
            "--task-queue",
            self.task_queue,
            "--db",
            self.db,
            "--data-dir",
            str(self.workdir),
        )

    async def drain(self, within: float = 600.0) -> None:
        """Until the notice table holds no copy still to go; the seconds it took add to drain_s."""
        began = time.perf_counter()
        while time.perf_counter() - began < within:
            if not await asyncio.to_thread(pending_copies, self.db):
                break
            await asyncio.sleep(0.2)
        self.drain_s += time.perf_counter() - began

    async def each(self, z: S.Zone, p: int) -> None:
        if p == 0:
            await self.service.start_zone(z.start)
        for act in z.phases[p]:
            await self.t.timed(self.service.act(z.zone_id, act), type(act).__name__)


def py_spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample a worker with py-spy (the thread holding the GIL) while it runs; None without py-spy."""
    import shutil

    exe = shutil.which("py-spy")
    if exe is None:
        log("py-spy not installed; no profile")
        return None
    fmt = {".json": "speedscope", ".txt": "raw"}.get(out.suffix, "flamegraph")
    return subprocess.Popen(
        [exe, "record", "-p", str(pid), "-o", str(out), "-f", fmt, "-r", "100", "--gil", "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run_bulk(
    server: Server, service: ZoneService, first: int, args: argparse.Namespace
) -> tuple[float, float]:
    """Rows/s of 500-row imports (one update each) against one-row acts, zones side by side."""
    today = jst_date(await server.now())
    now_fy = fiscal_year_of(today)
    dates = S.Dates(fiscal_year_start(now_fy - BULK_YEARS + 1), [])
    fys = range(now_fy - BULK_YEARS + 1, now_fy + 1)
    n = args.bulk_zones
    bulk = [S.make_zone(first + i, dates, kpis=BULK_KPIS, quiet=True, past_vision=True) for i in range(n)]
    single = [
        S.make_zone(first + n + i, dates, kpis=BULK_KPIS, quiet=True, past_vision=True) for i in range(n)
    ]
    for z in bulk + single:
        await service.start_zone(z.start)

    def entries(z: S.Zone, years: range) -> list[A.ActualEntry]:
        return [A.ActualEntry(kpi_id=k.id, fy=fy, value=150) for fy in years for k in z.kpis]

    tb, ts = Timings(), Timings()

    async def import_all(z: S.Zone) -> None:
        act = A.RecordKpiActuals(actor=S.actor(z.hub), actuals=entries(z, fys), source="bulk.xlsx")
        await tb.timed(service.act(z.zone_id, act))

    async def one_by_one(z: S.Zone) -> None:
        for e in entries(z, range(now_fy, now_fy + 1)):
            await ts.timed(service.act(z.zone_id, A.RecordKpiActuals(actor=S.actor(z.hub), actuals=[e])))

    tb.seconds = await pool(bulk, args.clients, import_all)
    ts.seconds = await pool(single, args.clients, one_by_one)
    errors = tb.errors + ts.errors
    if errors:
        log(f"bulk errors: {errors[:3]}")
    bulk_rate = len(tb.latencies) * BULK_KPIS * BULK_YEARS / tb.seconds
    single_rate = len(ts.latencies) / ts.seconds
    log(
        f"bulk: {bulk_rate:.0f} rows/s (p50 {percentile(tb.latencies, 50)} ms); "
        f"one row per act: {single_rate:.0f} rows/s (p50 {percentile(ts.latencies, 50)} ms)"
    )
    return round(bulk_rate, 1), round(single_rate, 1)


def _count(db: str, sql: str) -> int:
    from sqlalchemy import text

    from kenflow.db.engine import make_engine

    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def pending_copies(db: str) -> int:
    return _count(db, "SELECT count(*) FROM notice WHERE status = 'pending'")


def audit_count(db: str) -> int:
    return _count(db, "SELECT count(*) FROM audit WHERE result = 'accepted'")


async def run_phase(side: Baseline | Kenflow, zones: list[S.Zone], p: int, clients: int) -> float:
    """The phase's updates (timed), then whatever they set off (deliveries), which is part of
    the side's CPU cost but not of its update latency. kenflow's worker paces its copies
    (KENFLOW_DELIVERY_RATE), so it may still be sending when its processes look idle: the
    other side starts only once every copy is out (notice table), so none is sent on its clock."""
    seconds = await pool(zones, clients, lambda z: side.each(z, p))
    await side.drain()
    await quiesce()
    return seconds


def turns(
    base: Baseline, ken: Kenflow, zones: list[S.Zone], p: int
) -> list[tuple[Baseline | Kenflow, list[S.Zone], str]]:
    """Who runs phase `p`, on which zones, in what order. The side that goes second in a phase
    finds the server holding the first side's new histories too, and pays for it: in the
    formation, the second side's server CPU was ~1 ms/update higher whichever side it was
    (bench/README item 16). Fiscal years alternate which side goes first. The formation cannot
    alternate with itself, so it runs in halves, A B B A: each side goes first once and last
    once (before this, kenflow always formed second)."""
    if p > 0:
        return [(side, zones, "") for side in ((base, ken) if p % 2 == 0 else (ken, base))]
    half = len(zones) // 2
    first, second = zones[:half], zones[half:]
    return [(base, first, "a"), (ken, first, "a"), (ken, second, "b"), (base, second, "b")]


async def main(args: argparse.Namespace) -> dict:
    """Baseline and kenflow phase by phase, in turns (which goes first alternates), so the
    drift of a shared machine falls on both alike."""
    workdir = Path(tempfile.mkdtemp(prefix="kenflow-bench-"))
    async with open_server(args.server, workdir) as server, contextlib.AsyncExitStack() as stack:
        today = jst_date(await server.now())
        if server.sleep is not None:  # start at noon tomorrow: no act straddles midnight
            dates = S.skipping_dates(today + timedelta(days=1), args.years)
            await server.sleep(S.noon_after(await server.now(), dates.formation))
        else:
            dates = S.backdated_dates(today, args.years)
        zones = S.build(args.zones, args.years, args.kpis, dates, quiet=server.sleep is None)
        log(
            f"{args.server}: {len(zones)} zones, {sum(len(p) for z in zones for p in z.phases)} updates each side"
        )
        base, ken = (
            Baseline(server, zones, args.baseline_runner, args.baseline_polls),
            Kenflow(server, workdir),
        )
        base_worker = await stack.enter_async_context(base.worker())
        ken_worker = await stack.enter_async_context(ken.worker())
        cpu = CpuMeter({"Baseline": base_worker.pid, "Kenflow": ken_worker.pid})
        spies = []
        if args.profile:  # both workers, so a category's share can be compared side by side
            out = Path(args.profile)
            spies = [
                py_spy(ken_worker.pid, out),
                py_spy(base_worker.pid, out.with_stem(out.stem + "-baseline")),
            ]
        slept = settled = 0.0
        for p in range(len(zones[0].phases)):
            if p > 0 and server.sleep is not None:
                t = time.perf_counter()
                await server.sleep(S.noon_after(await server.now(), dates.years[p - 1][1]))
                slept += time.perf_counter() - t
            for side, part, label in turns(base, ken, zones, p):
                settled += await quiesce()
                mark, began = len(side.t.latencies), time.perf_counter()
                spent = dict(cpu.spent.get(type(side).__name__, {}))
                side.t.seconds += await cpu.measure(
                    type(side).__name__, run_phase(side, part, p, args.clients)
                )
                here = side.t.latencies[mark:]
                now = cpu.spent[type(side).__name__]
                per = {k: round((now[k] - spent.get(k, 0.0)) * 1000 / max(len(here), 1), 1) for k in now}
                log(
                    f"phase {p}{label} {type(side).__name__}: {len(here)} updates, p50 {percentile(here, 50)} ms, "
                    f"p99 {percentile(here, 99)} ms, errors {len(side.t.errors)}, CPU ms/update {per}"
                )
                log(f"  tail: {side.t.tail(mark, began)}")
            log(
                f"phase {p}: kenflow {ken.t.per_s}/s, baseline {base.t.per_s}/s so far; "
                f"skipping {slept:.0f} s, settling {settled:.0f} s, kenflow's copies out {ken.drain_s:.0f} s after its acts"
            )
        for spy in spies:  # the profiles cover the lifecycle phases, not the bulk imports
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await asyncio.to_thread(spy.wait, 60)
        bulk, per_act = (
            await run_bulk(server, ken.service, len(zones), args) if args.bulk_zones else (0.0, 0.0)
        )
        audited = audit_count(ken.db)
    t = ken.t
    for side, timings in (("kenflow", t), ("baseline", base.t)):
        if timings.errors:
            log(f"ERRORS {side}: {len(timings.errors)} {timings.errors[:3]}")
    log(f"read model: {audited} accepted audit rows; work dir {workdir}")
    return {
        "server": args.server,
        "zones": args.zones,
        "fiscal_years": args.years,
        "updates": len(t.latencies),
        "errors": len(t.errors) + len(base.t.errors),
        "wall_s": round(t.seconds + slept, 1),
        "skip_s": round(slept, 1),
        "settle_s": round(settled, 1),
        "drain_s": round(ken.drain_s, 1),
        "updates_per_s": t.per_s,
        "baseline_updates_per_s": base.t.per_s,
        "ratio": round(t.per_s / base.t.per_s, 3) if base.t.per_s else 0,
        "baseline_runner": args.baseline_runner,
        "baseline_polls": args.baseline_polls or "stock",
        "p50_ms": percentile(t.latencies, 50),
        "p99_ms": percentile(t.latencies, 99),
        "baseline_p50_ms": percentile(base.t.latencies, 50),
        "baseline_p99_ms": percentile(base.t.latencies, 99),
        "worker_peak_rss_mb": ken_worker.peak_rss_mb,
        "baseline_worker_peak_rss_mb": base_worker.peak_rss_mb,
        "cpu_ms_per_update": cpu.per_update_ms("Kenflow", len(t.latencies)),
        "baseline_cpu_ms_per_update": cpu.per_update_ms("Baseline", len(base.t.latencies)),
        # the collector's CPU in each worker over the whole run (bulk imports included)
        "gc_ms_per_update": ken_worker.gc_ms_per(len(t.latencies)),
        "baseline_gc_ms_per_update": base_worker.gc_ms_per(len(base.t.latencies)),
        "gc_full_collections": [ken_worker.gc_full, base_worker.gc_full],
        "bulk_kpi_rows_per_s": bulk,
        "per_act_kpi_rows_per_s": per_act,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--zones", type=int, default=140)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--server", choices=["skip", "dev", "dev-file"], default="skip")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--kpis", type=int, default=3, help="KPIs per zone, one act per actual")
    parser.add_argument("--bulk-zones", type=int, default=10, help="0 skips the bulk comparison")
    parser.add_argument(
        "--profile",
        help="py-spy output for the kenflow worker (.svg flamegraph, .json speedscope or .txt collapsed "
        "stacks); the baseline worker's goes beside it as NAME-baseline.EXT",
    )
    parser.add_argument(
        "--baseline-runner",
        choices=["stock", "compiled"],
        default="stock",
        help="the baseline's workflow runner: temporalio's sandbox as shipped (bare Temporal, the "
        "default), or kenflow's (kenflow/sandbox.py), to see what that runner does for any workflow",
    )
    parser.add_argument(
        "--baseline-polls",
        type=int,
        default=0,
        help="workflow-task polls the baseline's worker keeps open: temporalio's five (0, the "
        "default, bare Temporal), or as many as kenflow's (KENFLOW_WORKFLOW_TASK_POLLS, 20), to "
        "see what that does for any workflow (bench/README item 18)",
    )
    args = parser.parse_args()

    async def run() -> dict:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # clean up servers
        return await main(args)

    print(json.dumps(asyncio.run(run()), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    cli()
