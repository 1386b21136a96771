"""The calendar end to end: scheduler job → ZoneService.act → the zone workflow opens its
fiscal-year review, on the time-skipping Temporal server with the real worker and read model.
The scheduler's clock is moved (April 1 arrives on demand); Temporal's is real time."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from sqlmodel import Session

from kenflow.db.tables import ZoneRow
from kenflow.scheduler import REVIEW_JOB_ID, TOKYO, Calendar, SchedulerLocked, run_scheduler
from models import acts as A
from models.fiscal import fiscal_year_of
from models.perspective import Perspective
from models.zone import ReminderPolicy, VisionInitiative
from tests import factories as f
from tests.delivery_fixtures import Kenflow, eventually


def fy_now() -> int:
    return fiscal_year_of(datetime.now(TOKYO).date())


def pdca_zone(fy: int) -> A.StartZone:
    """湖東 as it stands on paper: one agreement, a vision published last fiscal year."""
    vision = A.PastVision(
        title="湖東定住自立圏共生ビジョン",
        kpis=f.kpis(),
        period_start_fy=fy - 1,
        period_end_fy=fy + 3,
        published_on=date(fy - 1, 6, 1),
        initiatives=[VisionInitiative(perspective=Perspective.living, field="a", title="病児保育")],
    )
    past = A.RecordedPast(
        agreements=[
            A.PastAgreement(
                neighbour=f.NEIGHBOURS[0], initiatives=f.initiatives(), concluded_on=date(fy - 2, 10, 1)
            )
        ],
        vision=vision,
    )
    # KPI-actuals reminders far off: this test is about the calendar, not reminders.
    return f.start(
        declared_on=date(fy - 2, 5, 1), past=past, reminders=ReminderPolicy(kpi_actuals_due_days=3650)
    )


def phase(kenflow: Kenflow, zone_id: str) -> str | None:
    with Session(kenflow.db.engine) as s:
        row = s.get(ZoneRow, zone_id)
        return row.phase if row else None


async def has_review(kenflow: Kenflow, zone_id: str, fy: int) -> bool:
    state = await kenflow.service.state(zone_id)
    return fy in state.reviews and state.reviews[fy].requested_by == "kenflow"


async def test_reconciliation_then_april_first_open_reviews(kenflow: Kenflow) -> None:
    fy = fy_now()
    zone_id = await kenflow.service.start_zone(pdca_zone(fy))
    await eventually(lambda: phase(kenflow, zone_id) == "pdca")
    with Session(kenflow.db.engine) as s:  # in the read model, but its workflow is gone
        s.add(
            ZoneRow(
                id="settlement-999997",
                name="幽霊圏域",
                programme="settlement",
                phase="pdca",
                central_codes="999997",
                prefecture_codes=",99,",
                version=1,
                updated_at=datetime.now(TOKYO),
                state_zlib=b"",  # never read here
            )
        )
        s.commit()

    clock = {"now": datetime(fy, 3, 1, 12, tzinfo=TOKYO)}  # still the previous fiscal year
    calendar = Calendar(kenflow.db.settings, kenflow.db.engine, kenflow.service, clock=lambda: clock["now"])
    await calendar.start()
    try:
        report = calendar.reconciled
        assert report is not None and report.fy == fy - 1 and report.requested == [zone_id]
        assert "settlement-999997" in report.refused  # logged, not fatal
        assert await has_review(kenflow, zone_id, fy - 1)

        clock["now"] = datetime(fy, 4, 1, 9, tzinfo=TOKYO)  # April 1 arrives: fire the stored job now
        calendar.scheduler.modify_job(REVIEW_JOB_ID, next_run_time=datetime.now(TOKYO))  # type: ignore[union-attr]
        await eventually(lambda: has_review(kenflow, zone_id, fy))
        state = await kenflow.service.state(zone_id)
        assert state.current_fy == fy and state.phase.value == "pdca"
        await eventually(lambda: _current_fy(kenflow, zone_id) == fy)  # the read model follows
    finally:
        await calendar.stop()


def _current_fy(kenflow: Kenflow, zone_id: str) -> int | None:
    with Session(kenflow.db.engine) as s:
        row = s.get(ZoneRow, zone_id)
        return row.current_fy if row else None


async def test_run_scheduler_entry_point(kenflow: Kenflow) -> None:
    fy = fy_now()
    zone_id = await kenflow.service.start_zone(pdca_zone(fy))
    await eventually(lambda: phase(kenflow, zone_id) == "pdca")
    stop = asyncio.Event()
    task = asyncio.create_task(run_scheduler(kenflow.db.settings, kenflow.env.client, stop))
    try:
        await eventually(lambda: has_review(kenflow, zone_id, fy))  # reconciled on start
        other = asyncio.Event()
        try:
            await run_scheduler(kenflow.db.settings, kenflow.env.client, other)
            raise AssertionError("a second scheduler started")
        except SchedulerLocked as err:
            assert "only one may run per deployment" in str(err)
        assert not task.done()
    finally:
        stop.set()
        await task
