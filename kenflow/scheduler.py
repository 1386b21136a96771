"""The calendar: each April 1 (JST) every zone in its PDCA phase is asked to review the new
fiscal year. APScheduler 3 runs it, with its job store in kenflow's own database.

Why this shape:
- Deadlines inside a zone (resolutions, consultations, the vision's period, KPI actuals) are
  durable timers of the zone workflow (models/deadlines.py); the calendar does not repeat them.
- The job is stored (SQLAlchemyJobStore), coalesced and has a grace of
  `misfire_grace_days`: an April 1 missed while kenflow was down runs once after restart.
  On start the stored job is replaced (stable id, replace_existing) but its due time is kept,
  because APScheduler would otherwise recompute it from now and drop the missed run.
- On start, and again every day, every PDCA zone whose current fiscal year lags gets its
  request (reconciliation). That covers a miss longer than the grace, a zone whose request
  failed on April 1 (Temporal or the database down), and one that reached PDCA mid-year.
- A repeated request is harmless: the workflow treats ReviewFiscalYear for a year it already
  has as a duplicate. A refusal is logged, never fatal.
- Exactly one scheduler per deployment: a row in `scheduler_lock`, taken by an atomic
  conditional UPDATE or INSERT (SQLite and PostgreSQL alike), renewed by a heartbeat job.
- No daily digest: each overdue item already has its own repeating reminder from the workflow,
  sent durably to exactly the municipalities concerned, and the dashboard lists overdue items
  and failed notices. A digest sent from here would bypass the workflow's delivery path (its
  retries and idempotency) to repeat the same facts every day.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from temporalio.client import Client

from kenflow.db.engine import engine_for, make_engine, writing
from kenflow.db.tables import SchedulerLockRow, ZoneRow
from kenflow.settings import Settings
from models.actor import SYSTEM
from models.acts import ActResult, ReviewFiscalYear
from models.fiscal import fiscal_year_of

log = logging.getLogger(__name__)

TOKYO = ZoneInfo("Asia/Tokyo")
REVIEW_JOB_ID = "kenflow-fiscal-year-review"
REVIEW_JOB_FUNC = "kenflow.scheduler:review_new_fiscal_year"
HEARTBEAT_JOB_ID = "kenflow-scheduler-heartbeat"
RECONCILE_JOB_ID = "kenflow-daily-reconcile"
LOCK_NAME = "kenflow-scheduler"
LOCK_TTL = timedelta(seconds=60)
HEARTBEAT_EVERY = timedelta(seconds=15)
CONCURRENCY = 8  # review requests in flight at once


class SchedulerLocked(RuntimeError):
    """Another scheduler holds this deployment's lock; the message says who and until when."""


class ActService(Protocol):
    async def act(self, zone_id: str, act: ReviewFiscalYear, update_id: str | None = None) -> ActResult: ...


# --------------------------------------------------------------------------- the lock


def _utc(dt: datetime) -> datetime:
    """Rows read back from SQLite are naive; they were written in UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class SchedulerLock:
    """A lease in `scheduler_lock`: held while its heartbeat keeps `expires_at` in the future."""

    engine: Engine
    owner: str = field(default_factory=new_owner_id)
    name: str = LOCK_NAME
    ttl: timedelta = LOCK_TTL

    def acquire(self) -> None:
        """Take the lock if it is free, expired or already ours; else raise SchedulerLocked."""
        t = SchedulerLockRow.__table__
        now = datetime.now(UTC)
        values = {"owner": self.owner, "heartbeat_at": now, "expires_at": now + self.ttl}
        with writing(self.engine) as conn:
            taken = conn.execute(
                update(t)
                .where(t.c.name == self.name, or_(t.c.owner == self.owner, t.c.expires_at < now))
                .values(**values)
            ).rowcount
        if taken == 1:
            return
        try:
            with writing(self.engine) as conn:
                conn.execute(insert(t).values(name=self.name, **values))
            return
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.c.owner, t.c.heartbeat_at, t.c.expires_at).where(t.c.name == self.name)
            ).one_or_none()
        if row is None:  # released between our two statements: try once more
            return self.acquire()
        raise SchedulerLocked(
            f"別のkenflowスケジューラー({row.owner})が稼働中です。スケジューラーは1つのデプロイにつき1つだけ動かせます"
            f"(最終応答 {_utc(row.heartbeat_at).astimezone(TOKYO):%Y-%m-%d %H:%M:%S} JST、"
            f"停止していれば {_utc(row.expires_at).astimezone(TOKYO):%H:%M:%S} JST に失効します)。 "
            f"Another kenflow scheduler ({row.owner}) holds the lock on this database; only one may run per "
            f"deployment. Its last heartbeat was {_utc(row.heartbeat_at).isoformat()}; if it has died, "
            f"the lock expires at {_utc(row.expires_at).isoformat()}. Stop the other scheduler, or run this "
            f"process without one."
        )

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours (we were too late and lost it)."""
        t = SchedulerLockRow.__table__
        now = datetime.now(UTC)
        with writing(self.engine) as conn:
            return (
                conn.execute(
                    update(t)
                    .where(t.c.name == self.name, t.c.owner == self.owner)
                    .values(heartbeat_at=now, expires_at=now + self.ttl)
                ).rowcount
                == 1
            )

    def release(self) -> None:
        t = SchedulerLockRow.__table__
        with writing(self.engine) as conn:
            conn.execute(delete(t).where(t.c.name == self.name, t.c.owner == self.owner))


# --------------------------------------------------------------------------- the jobs


def fiscal_year_trigger(settings: Settings) -> CronTrigger:
    """April 1, `fiscal_year_review_hour`:00 in Japan, every year."""
    return CronTrigger(
        month=4, day=1, hour=settings.fiscal_year_review_hour, minute=0, second=0, timezone=TOKYO
    )


@dataclass
class ReviewReport:
    fy: int
    requested: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class _Runtime:
    """What the stored jobs need and cannot pickle: set by the running Calendar."""

    engine: Engine
    service: ActService
    clock: Callable[[], datetime]


_runtime: _Runtime | None = None


def _current() -> _Runtime:
    if _runtime is None:
        raise RuntimeError("the kenflow scheduler is not running in this process")
    return _runtime


def active_zones(engine: Engine, lagging_before: int | None = None) -> list[str]:
    """PDCA zones from the read model; with `lagging_before`, only those whose current fiscal
    year is earlier (or that never started one)."""
    t = ZoneRow.__table__
    q = select(t.c.id).where(t.c.phase == "pdca")
    if lagging_before is not None:
        q = q.where(or_(t.c.current_fy.is_(None), t.c.current_fy < lagging_before))
    with engine.connect() as conn:
        return list(conn.execute(q.order_by(t.c.id)).scalars())


async def request_reviews(service: ActService, zone_ids: Iterable[str], fy: int) -> ReviewReport:
    """Ask each zone to review `fy`. The update id makes a client retry land once."""
    from kenflow.service import Refused, ZoneNotFound

    report = ReviewReport(fy=fy)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(zone_id: str) -> None:
        async with gate:
            try:
                result = await service.act(
                    zone_id, ReviewFiscalYear(actor=SYSTEM, fy=fy), update_id=f"calendar-review-{fy}"
                )
            except (Refused, ZoneNotFound) as err:
                report.refused[zone_id] = str(err)
                log.warning("FY%s review of %s refused: %s", fy, zone_id, err)
                return
            except Exception as err:  # noqa: BLE001 — one zone's trouble must not stop the others
                report.errors[zone_id] = f"{type(err).__name__}: {err}"
                log.exception("FY%s review of %s failed", fy, zone_id)
                return
            (report.duplicates if result.duplicate else report.requested).append(zone_id)

    await asyncio.gather(*(one(z) for z in zone_ids))
    log.info(
        "FY%s review: %d requested, %d already under way, %d refused, %d errors",
        fy,
        len(report.requested),
        len(report.duplicates),
        len(report.refused),
        len(report.errors),
    )
    return report


async def review_new_fiscal_year() -> ReviewReport:
    """The yearly job. The fiscal year is the one in force when it runs: on April 1 that is the
    new one, and a catch-up within the grace (well under a year) still falls in it."""
    rt = _current()
    fy = fiscal_year_of(rt.clock().astimezone(TOKYO).date())
    zones = await asyncio.to_thread(active_zones, rt.engine)
    return await request_reviews(rt.service, zones, fy)


async def reconcile() -> ReviewReport:
    """On start and daily: every PDCA zone behind the current fiscal year gets its request."""
    rt = _current()
    fy = fiscal_year_of(rt.clock().astimezone(TOKYO).date())
    zones = await asyncio.to_thread(active_zones, rt.engine, fy)
    return await request_reviews(rt.service, zones, fy)


# --------------------------------------------------------------------------- the scheduler


def build_scheduler(settings: Settings, jobstore_engine: Engine) -> AsyncIOScheduler:
    grace = int(timedelta(days=settings.misfire_grace_days).total_seconds())
    return AsyncIOScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=jobstore_engine), "memory": MemoryJobStore()},
        executors={"default": AsyncIOExecutor()},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=TOKYO,
    )


def install_review_job(scheduler: AsyncIOScheduler, settings: Settings) -> None:
    """Add or replace the yearly job, keeping a stored due time that has passed (a missed run)
    so the scheduler catches it up; otherwise the next fire time of the current trigger."""
    trigger = fiscal_year_trigger(settings)
    now = datetime.now(TOKYO)
    existing = scheduler.get_job(REVIEW_JOB_ID, jobstore="default")
    due = trigger.get_next_fire_time(None, now)
    if existing is not None and existing.next_run_time is not None and existing.next_run_time <= now:
        due = existing.next_run_time
    scheduler.add_job(
        REVIEW_JOB_FUNC,
        trigger=trigger,
        id=REVIEW_JOB_ID,
        name="年度の振り返り依頼 (FY review)",
        jobstore="default",
        replace_existing=True,
        next_run_time=due,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(timedelta(days=settings.misfire_grace_days).total_seconds()),
    )


class Calendar:
    """One running scheduler: the lock, APScheduler, and the runtime its jobs use."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        service: ActService,
        *,
        lock: SchedulerLock | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.service = service
        self.lock = lock or SchedulerLock(engine)
        self.clock = clock or (lambda: datetime.now(TOKYO))
        self.lost = asyncio.Event()  # set when the heartbeat finds the lock taken over
        self.scheduler: AsyncIOScheduler | None = None
        self.reconciled: ReviewReport | None = None

    async def start(self) -> None:
        """Lock (or SchedulerLocked), install the jobs while paused, run, then reconcile.
        The heartbeat runs before the reconciliation, which may be slow with many zones."""
        global _runtime
        await asyncio.to_thread(self.lock.acquire)
        try:
            _runtime = _Runtime(self.engine, self.service, self.clock)
            self.scheduler = build_scheduler(self.settings, make_engine(self.settings.db_url))
            self.scheduler.start(paused=True)
            install_review_job(self.scheduler, self.settings)
            self.scheduler.add_job(
                self._heartbeat,
                "interval",
                seconds=HEARTBEAT_EVERY.total_seconds(),
                id=HEARTBEAT_JOB_ID,
                jobstore="memory",
                replace_existing=True,
            )
            daily = CronTrigger(hour=self.settings.fiscal_year_review_hour, minute=30, timezone=TOKYO)
            self.scheduler.add_job(
                reconcile, daily, id=RECONCILE_JOB_ID, jobstore="memory", replace_existing=True
            )
            self.scheduler.resume()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "kenflow scheduler started (owner %s); next FY review at %s",
            self.lock.owner,
            self.scheduler.get_job(REVIEW_JOB_ID).next_run_time,
        )
        try:
            self.reconciled = await reconcile()
        except Exception:  # noqa: BLE001 — the daily reconciliation tries again
            log.exception("reconciliation on start failed")

    async def _heartbeat(self) -> None:
        if not await asyncio.to_thread(self.lock.renew):
            log.error("kenflow scheduler lost its lock to another process; stopping")
            self.lost.set()

    async def stop(self) -> None:
        global _runtime
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        if _runtime is not None and _runtime.service is self.service:
            _runtime = None
        await asyncio.to_thread(self.lock.release)

    async def run_until(self, stop_event: asyncio.Event) -> None:
        """Run until `stop_event` is set; raise SchedulerLocked if the lock is lost meanwhile."""
        await self.start()
        try:
            stop = asyncio.ensure_future(stop_event.wait())
            lost = asyncio.ensure_future(self.lost.wait())
            await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            lost.cancel()
        finally:
            await self.stop()
        if self.lost.is_set() and not stop_event.is_set():
            raise SchedulerLocked("another scheduler took over this deployment's lock")


async def run_scheduler(settings: Settings, client: Client, stop_event: asyncio.Event) -> None:
    """Entry point for `kenflow up` and `kenflow scheduler`. The database must be migrated.
    Raises SchedulerLocked when another scheduler runs on the same database."""
    from kenflow.service import ZoneService

    calendar = Calendar(settings, engine_for(settings.db_url), ZoneService(client, settings.task_queue))
    await calendar.run_until(stop_event)
