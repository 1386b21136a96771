"""The calendar without Temporal: fire times computed across fiscal-year boundaries (the clock is
moved, not waited for), a missed April 1 caught up once by a real scheduler on the real job
store, and the one-scheduler-per-deployment lock. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kenflow.db.engine import make_engine
from kenflow.db.tables import ZoneRow
from kenflow.scheduler import (
    RECONCILE_JOB_ID,
    REVIEW_JOB_ID,
    TOKYO,
    Calendar,
    SchedulerLock,
    SchedulerLocked,
    build_scheduler,
    fiscal_year_trigger,
    install_review_job,
    request_reviews,
)
from kenflow.service import Refused, ZoneNotFound
from kenflow.settings import Settings
from models.acts import ActResult, ReviewFiscalYear
from models.fiscal import fiscal_year_of
from tests.delivery_fixtures import eventually


class Recorder:
    """Stands in for ZoneService: records each request, refuses the zones it is told to."""

    def __init__(self, refuse: dict[str, Exception] | None = None) -> None:
        self.calls: list[tuple[str, int, str | None]] = []
        self.refuse = refuse or {}

    async def act(self, zone_id: str, act: ReviewFiscalYear, update_id: str | None = None) -> ActResult:
        self.calls.append((zone_id, act.fy, update_id))
        if zone_id in self.refuse:
            raise self.refuse[zone_id]
        return ActResult(zone_id=zone_id, version=2, act="ReviewFiscalYear", summary="ok")


def jst(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


def fy_now() -> int:
    return fiscal_year_of(datetime.now(TOKYO).date())


def add_zone(engine: Engine, zone_id: str, phase: str = "pdca", current_fy: int | None = None) -> None:
    with Session(engine) as s:
        s.add(
            ZoneRow(
                id=zone_id,
                name=zone_id,
                programme="settlement",
                phase=phase,
                central_codes="252026",
                prefecture_codes=",25,",
                current_fy=current_fy,
                version=1,
                updated_at=datetime.now(TOKYO),
                state_zlib=b"",  # never read here
            )
        )
        s.commit()


@pytest.fixture
def settings(db_url: str, engine: Engine, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(data_dir=tmp_path, database_url=db_url)


@pytest.mark.parametrize(
    ("now", "hour", "expected"),
    [
        (jst(2027, 3, 31, 23, 59), 9, jst(2027, 4, 1, 9, 0)),
        (jst(2027, 4, 1, 8, 59, 59), 9, jst(2027, 4, 1, 9, 0)),
        (jst(2027, 4, 1, 9, 1), 9, jst(2028, 4, 1, 9, 0)),
        (jst(2027, 4, 1, 9, 1), 7, jst(2028, 4, 1, 7, 0)),
        (jst(2027, 12, 31, 15, 0), 0, jst(2028, 4, 1, 0, 0)),  # 2027-12-31 15:00 UTC+9; no UTC drift
    ],
)
def test_next_fire_time_across_fiscal_years(now: datetime, hour: int, expected: datetime) -> None:
    trigger = fiscal_year_trigger(Settings(fiscal_year_review_hour=hour))
    fire = trigger.get_next_fire_time(None, now)
    assert fire == expected and fire.utcoffset() == timedelta(hours=9)
    assert fiscal_year_of(fire.date()) == fire.year  # always the first day of a fiscal year


async def _store_missed_job(settings: Settings, due: datetime) -> None:
    """What a scheduler that was down across April 1 leaves behind: the stored job, past due."""
    scheduler = build_scheduler(settings, make_engine(settings.db_url))
    scheduler.start(paused=True)
    install_review_job(scheduler, settings)
    scheduler.modify_job(REVIEW_JOB_ID, next_run_time=due)
    scheduler.shutdown(wait=False)


async def test_a_missed_april_first_runs_once_after_restart(settings: Settings, engine: Engine) -> None:
    fy = fy_now()
    for z in ("settlement-252026", "metropolitan-342076"):
        add_zone(engine, z, current_fy=fy)  # up to date: reconciliation has nothing to do
    add_zone(engine, "settlement-012025", phase="vision")  # not in its PDCA phase: never asked
    await _store_missed_job(settings, datetime.now(TOKYO) - timedelta(days=2))

    recorder = Recorder()
    calendar = Calendar(settings, engine, recorder)
    await calendar.start()
    try:
        await eventually(lambda: len(recorder.calls) >= 2, within=10)
        await asyncio.sleep(1.0)
        assert sorted(recorder.calls) == [
            ("metropolitan-342076", fy, f"calendar-review-{fy}"),
            ("settlement-252026", fy, f"calendar-review-{fy}"),
        ]
        job = calendar.scheduler.get_job(REVIEW_JOB_ID)  # type: ignore[union-attr]
        trigger = fiscal_year_trigger(settings)
        assert job.next_run_time == trigger.get_next_fire_time(None, datetime.now(TOKYO))
        daily = calendar.scheduler.get_job(RECONCILE_JOB_ID)  # type: ignore[union-attr]
        assert (daily.next_run_time.hour, daily.next_run_time.minute) == (9, 30)
    finally:
        await calendar.stop()

    again = Calendar(settings, engine, recorder)  # a second restart finds nothing due
    await again.start()
    await asyncio.sleep(0.5)
    await again.stop()
    assert len(recorder.calls) == 2


async def test_two_missed_years_coalesce_into_one_run(settings: Settings, engine: Engine) -> None:
    settings = settings.model_copy(update={"misfire_grace_days": 800})
    add_zone(engine, "settlement-252026", current_fy=fy_now())
    await _store_missed_job(settings, datetime.now(TOKYO) - timedelta(days=400))  # two April 1s ago
    recorder = Recorder()
    calendar = Calendar(settings, engine, recorder)
    await calendar.start()
    try:
        await eventually(lambda: recorder.calls, within=10)
        await asyncio.sleep(1.0)
        assert recorder.calls == [("settlement-252026", fy_now(), f"calendar-review-{fy_now()}")]
    finally:
        await calendar.stop()


async def test_beyond_grace_the_reconciliation_catches_up(settings: Settings, engine: Engine) -> None:
    settings = settings.model_copy(update={"misfire_grace_days": 1})
    fy = fy_now()
    add_zone(engine, "settlement-252026", current_fy=fy - 1)  # lagging
    add_zone(engine, "settlement-012025", current_fy=None)  # in PDCA, never reviewed
    add_zone(engine, "metropolitan-342076", current_fy=fy)  # up to date
    await _store_missed_job(settings, datetime.now(TOKYO) - timedelta(days=3))
    recorder = Recorder()
    calendar = Calendar(settings, engine, recorder)
    await calendar.start()
    await asyncio.sleep(1.0)
    await calendar.stop()
    assert sorted(z for z, _, _ in recorder.calls) == ["settlement-012025", "settlement-252026"]
    assert calendar.reconciled is not None and sorted(calendar.reconciled.requested) == [
        "settlement-012025",
        "settlement-252026",
    ]


async def test_refusals_are_logged_not_fatal() -> None:
    recorder = Recorder(
        {
            "a": Refused("ビジョンの公表後に年度のPDCAを始めます"),
            "b": ZoneNotFound("gone"),
            "c": RuntimeError("Temporal unreachable"),
        }
    )
    report = await request_reviews(recorder, ["a", "b", "c", "d"], 2027)
    assert report.requested == ["d"]
    assert set(report.refused) == {"a", "b"} and "PDCA" in report.refused["a"]
    assert set(report.errors) == {"c"}


async def test_a_second_scheduler_is_refused(settings: Settings, engine: Engine) -> None:
    first = Calendar(settings, engine, Recorder())
    await first.start()
    try:
        second = Calendar(settings, engine, Recorder())
        with pytest.raises(SchedulerLocked, match="Another kenflow scheduler") as err:
            await second.start()
        assert first.lock.owner in str(err.value)
        assert first.lock.renew()  # the refused one did not disturb the holder
    finally:
        await first.stop()
    await second.start()  # released on stop: the next one may run
    await second.stop()


def test_an_expired_lock_is_taken_over(engine: Engine) -> None:
    dead = SchedulerLock(engine, ttl=timedelta(seconds=-1))  # died right after taking it
    dead.acquire()
    alive = SchedulerLock(engine)
    alive.acquire()
    assert not dead.renew()  # the old holder learns it lost the lock
    assert alive.renew()
    with pytest.raises(SchedulerLocked):
        SchedulerLock(engine).acquire()
    dead.release()  # releasing a lock one no longer holds changes nothing
    with pytest.raises(SchedulerLocked):
        SchedulerLock(engine).acquire()
    alive.release()
    SchedulerLock(engine).acquire()
