"""Faults on real servers, nothing mocked: a worker SIGKILLed mid-phase, the Temporal server
restarted on its SQLite file, the same act twice at once, hostile payloads, a 10 MB text.

Each test gets its own dev server (as `kenflow up` starts it) and a worker subprocess.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from kenflow.recipients import set_recipient
from kenflow.service import Refused, ZoneService
from models import acts as A
from models.deadlines import next_due
from models.fiscal import current_jst_date, fiscal_year_of, fiscal_year_start, jst_midnight
from models.municipality import Municipality
from models.notice import MIC
from models.zone import Resolution, TimelineEntry
from tests import factories as f
from tests.delivery_fixtures import HttpReceiver
from tests.fault_fixtures import (  # noqa: F401
    Stack,
    audit_seqs,
    events,
    settled_events,
    stack_fixture,
    task_failures,
    until,
)

TOWNS = [*f.NEIGHBOURS, f.CROSS, f.LATE]


def hub_city(n: int) -> Municipality:
    return f.city(f"252{n:02d}", f"試験{n}市")


def draft(hub: Municipality, town: Municipality, on: date) -> A.DraftAgreement:
    return A.DraftAgreement(actor=f.actor_of(hub), neighbour=town, initiatives=f.initiatives(), drafted_on=on)


def resolve(hub: Municipality, town: Municipality, council: Municipality, on: date) -> A.RecordResolution:
    res = Resolution(municipality_code=council.code, resolved_on=on, number=f"{council.code}-{town.code}")
    return A.RecordResolution(actor=f.actor_of(council), neighbour_code=town.code, resolution=res)


def pdca_start(hub: Municipality, fy: int, notice_months: int = 24) -> A.StartZone:
    """A zone entering at PDCA from paper: one agreement, a vision published last FY."""
    vision = A.PastVision(
        title="共生ビジョン",
        kpis=f.kpis(),
        period_start_fy=fy - 1,
        period_end_fy=fy + 3,
        published_on=date(fy - 1, 6, 1),
        initiatives=f.vision_draft(hub, date(fy - 1, 6, 1), fy).initiatives,
    )
    agreement = A.PastAgreement(
        neighbour=TOWNS[0],
        initiatives=f.initiatives(),
        concluded_on=date(fy - 2, 10, 1),
        notice_period_months=notice_months,
    )
    return f.start(
        [hub],
        declared_on=date(fy - 2, 5, 1),
        name=f"{hub.name}定住自立圏",
        past=A.RecordedPast(agreements=[agreement], vision=vision),
    )


async def consistent(stack: Stack, zone_id: str) -> list[TimelineEntry]:
    """The read model holds exactly the acts in the workflow's timeline, each once, and the
    workflow's version; the workflow's timeline (its past runs' entries unpacked)."""
    state = await stack.service.state(zone_id)
    timeline = state.whole_timeline()
    seqs = [e.seq for e in timeline]
    assert seqs == list(range(1, state.timeline_seq + 1))
    await until(lambda: audit_seqs(stack.engine, zone_id) == seqs)
    with stack.engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM zone WHERE id = :z"), {"z": zone_id}).scalar_one()
    assert version == state.version
    return timeline


# --------------------------------------------------------------------------- worker killed


async def test_worker_killed_mid_agreements(stack: Stack) -> None:
    today = current_jst_date()
    on, hub = today - timedelta(days=10), f.HIKONE
    svc = stack.service
    zone_id = await svc.start_zone(f.start(declared_on=today - timedelta(days=60)))
    for act in [draft(hub, t, on) for t in TOWNS[:3]] + [resolve(hub, TOWNS[0], hub, on)]:
        await svc.act(zone_id, act)

    # One clerk's acts, one after another, keep arriving while the worker dies and returns.
    stream = [resolve(hub, TOWNS[0], TOWNS[0], on)]
    stream += [resolve(hub, t, c, on) for t in TOWNS[1:3] for c in (hub, t)]
    done: list[A.ActResult] = []

    async def clerk() -> None:
        for act in stream:
            done.append(await svc.act(zone_id, act))

    clerk_task = asyncio.create_task(clerk())
    await until(lambda: len(done) >= 1)
    stack.worker.kill()
    # Other clerks, meanwhile, draft the last two agreements.
    others = [asyncio.create_task(svc.act(zone_id, draft(hub, t, on))) for t in TOWNS[3:]]
    await asyncio.sleep(1.5)
    assert not any(t.done() for t in others), "an act was answered while no worker ran"
    await stack.worker.start()
    results = await asyncio.wait_for(asyncio.gather(clerk_task, *others), 90)
    for t in TOWNS[3:]:
        for c in (hub, t):
            done.append(await svc.act(zone_id, resolve(hub, t, c, on)))

    assert all(not r.duplicate for r in done + results[1:])
    state = await svc.state(zone_id)
    timeline = await consistent(stack, zone_id)
    drafted = [e for e in timeline if e.act == "draft_agreement"]
    resolved = [e for e in timeline if e.act == "record_resolution"]
    assert len(drafted) == len(TOWNS) and len({e.summary for e in drafted}) == len(TOWNS)
    assert len(resolved) == 2 * len(TOWNS) and len({e.summary for e in resolved}) == 2 * len(TOWNS)
    assert all(a.status.value == "concluded" for a in state.agreements.values())
    assert await task_failures(stack.client.get_workflow_handle(zone_id)) == []


# --------------------------------------------------------------------------- server restarted


def wake_times(history: list) -> set[datetime]:
    """When the zone's pending timers fire (to the minute): TimerStarted without Fired/Canceled.
    Ids change when a zone re-arms its wake-up after an act; the wake time does not."""
    started = {
        e.timer_started_event_attributes.timer_id: e
        for e in history
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    }
    for e in history:
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            started.pop(e.timer_fired_event_attributes.timer_id, None)
        if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            started.pop(e.timer_canceled_event_attributes.timer_id, None)
    out = set()
    for e in started.values():
        fire = (
            e.event_time.ToDatetime(tzinfo=UTC)
            + e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        )
        out.add(fire.replace(second=0, microsecond=0))
    return out


async def settled(svc: ZoneService, zone_id: str) -> bool:
    """Nothing in flight but MIC's copy, which waits on its retry timer."""
    return all(n.recipient == MIC for n in (await svc.state(zone_id)).notices)


async def test_server_restart_resumes_zones_and_timers(stack: Stack, http_receiver: HttpReceiver) -> None:
    today = current_jst_date()
    fy, on = fiscal_year_of(today), today - timedelta(days=5)
    http_receiver.statuses = [503]  # MIC is down: the declaration's copy waits on a retry timer
    await asyncio.to_thread(set_recipient, stack.engine, MIC, "webhook", http_receiver.url)
    svc = stack.service
    hub1, hub2 = f.HIKONE, hub_city(30)
    forming = await svc.start_zone(f.start(declared_on=today - timedelta(days=60)))
    for act in [draft(hub1, TOWNS[0], on), resolve(hub1, TOWNS[0], hub1, on)]:
        await svc.act(forming, act)
    running = await svc.start_zone(pdca_start(hub2, fy, notice_months=1))
    hub_actor = f.actor_of(hub2)
    abolish = A.NotifyAbolition(
        actor=hub_actor,
        neighbour_code=TOWNS[0].code,
        by=hub2.code,
        notified_on=today,
        resolution=Resolution(municipality_code=hub2.code, resolved_on=today, number="廃止1"),
    )
    for act in [
        A.ReviewFiscalYear(actor=hub_actor, fy=fy),
        A.RecordPlan(actor=hub_actor, fy=fy, plan="計画"),
        abolish,
    ]:
        await svc.act(running, act)
    await until(lambda: len(http_receiver.requests) >= 1)
    for zone_id in (forming, running):
        await until(lambda: settled(svc, zone_id))  # noqa: B023 — awaited at once
    before = {z: await svc.state(z) for z in (forming, running)}
    timers = {z: wake_times(await events(stack.client.get_workflow_handle(z))) for z in before}

    stack.server.stop()
    http_receiver.statuses = [200]  # MIC comes back while Temporal is down
    client = await stack.server.start()
    svc = ZoneService(client, stack.worker.task_queue)

    for zone_id, state in before.items():
        after = await svc.state(zone_id)
        assert after.model_dump(exclude={"notices", "notices_sent"}) == state.model_dump(
            exclude={"notices", "notices_sent"}
        )
        assert wake_times(await events(client.get_workflow_handle(zone_id))) == timers[zone_id] != set()
    # The abolition's notice period is what the PDCA zone sleeps towards, still.
    due = min(next_due(before[running]), fiscal_year_start(fy + 1))
    assert due == before[running].agreements[TOWNS[0].code].abolition.effective_on
    assert timers[running] == {jst_midnight(due).astimezone(UTC)}
    # The delivery's retry timer fired after the restart: MIC got its copy.
    await until(lambda: any(r["json"] and 200 in http_receiver.statuses for r in http_receiver.requests), 60)
    key = f"{forming}/declaration/v1/{MIC}"
    await until(lambda: _notice_status(stack, key) == "delivered", 60)
    # Both zones carry on from where they were.
    assert not (await svc.act(forming, resolve(hub1, TOWNS[0], TOWNS[0], on))).duplicate
    projects = A.RecordProjects(
        actor=hub_actor, fy=fy, projects=[{"initiative": "病児保育", "status": "実施中"}]
    )
    assert not (await svc.act(running, projects)).duplicate
    stack.service = svc
    for zone_id in before:
        await consistent(stack, zone_id)
        assert await task_failures(client.get_workflow_handle(zone_id)) == []


def _notice_status(stack: Stack, key: str) -> str | None:
    with stack.engine.connect() as conn:
        return conn.execute(text("SELECT status FROM notice WHERE key = :k"), {"k": key}).scalar_one_or_none()


# --------------------------------------------------------------------------- duplicates


async def test_same_act_twice_at_once_is_recorded_once(stack: Stack) -> None:
    today = current_jst_date()
    on, hub, svc = today - timedelta(days=3), f.HIKONE, stack.service
    zone_id = await svc.start_zone(f.start(declared_on=today - timedelta(days=30)))
    twice = [draft(hub, TOWNS[0], on)] * 2
    first = await asyncio.gather(*(svc.act(zone_id, a) for a in twice))
    same = resolve(hub, TOWNS[0], hub, on)
    five = await asyncio.gather(*(svc.act(zone_id, same) for _ in range(5)))
    one_id = resolve(hub, TOWNS[0], TOWNS[0], on)
    by_id = await asyncio.gather(*(svc.act(zone_id, one_id, update_id="clerk-42") for _ in range(3)))
    assert sorted(r.duplicate for r in first) == [False, True]
    assert sorted(r.duplicate for r in five) == [False] + [True] * 4
    assert len({r.model_dump_json() for r in by_id}) == 1 and not by_id[0].duplicate
    acts = [e.act for e in await consistent(stack, zone_id)]
    assert acts.count("draft_agreement") == 1 and acts.count("record_resolution") == 2


# --------------------------------------------------------------------------- hostile payloads


def templates(hub: Municipality, today: date, fy: int) -> dict[type, tuple[list[A.Act], A.Act]]:
    """Per act type: the setup that lets a valid act through, and that valid act."""
    me, nb, town = f.actor_of(hub), f.actor_of(TOWNS[0]), TOWNS[1]
    vision = f.vision_draft(hub, today, fy, revision=True)
    fresh = f.vision_draft(hub, today, fy)
    review = f.council_review(hub, today)
    plan = A.RecordPlan(actor=me, fy=fy, plan="計画")
    check = A.CompleteCheck(actor=me, fy=fy, checked_on=today)
    res = Resolution(municipality_code=hub.code, resolved_on=today, number="1")
    return {
        A.Declare: ([], A.Declare(actor=me, declaration=f.declaration(today))),
        A.OverrideEligibility: (
            [],
            A.OverrideEligibility(actor=f.MINISTRY, reason="要件の例外を認める理由です"),
        ),
        A.DraftAgreement: ([], draft(hub, town, today)),
        A.RecordResolution: ([draft(hub, town, today)], resolve(hub, town, hub, today)),
        A.NotifyAbolition: (
            [],
            A.NotifyAbolition(
                actor=me, neighbour_code=TOWNS[0].code, by=hub.code, resolution=res, notified_on=today
            ),
        ),
        A.AdoptPolicy: ([], A.AdoptPolicy(actor=me, initiatives=f.initiatives(), resolution=res)),
        A.DraftVision: ([], vision),
        A.RecordCouncilReview: ([vision], review),
        A.AnswerConsultation: (
            [fresh, review],
            A.AnswerConsultation(
                actor=nb, municipality_code=TOWNS[0].code, answer="agree", answered_on=today
            ),
        ),
        A.PublishVision: ([vision, review], A.PublishVision(actor=me, published_on=today)),
        A.ReviewFiscalYear: ([], A.ReviewFiscalYear(actor=me, fy=fy - 1)),
        A.RecordPlan: ([], plan),
        A.RecordProjects: (
            [],
            A.RecordProjects(actor=me, fy=fy, projects=[{"initiative": "x", "status": "実施中"}]),
        ),
        A.RecordKpiActuals: (
            [],
            A.RecordKpiActuals(actor=me, actuals=[A.ActualEntry(kpi_id="bus-riders", fy=fy, value=10_000)]),
        ),
        A.CompleteCheck: ([plan], check),
        A.CompleteAction: (
            [plan, check],
            A.CompleteAction(actor=me, fy=fy, reviewed_on=today, results="順調"),
        ),
    }


def clear(err: WorkflowUpdateFailedError) -> bool:
    """Refused by the rules, or by validation naming the field; never a bare crash."""
    chain, cause = [], err.cause
    while cause is not None:
        chain.append(cause)
        cause = cause.cause
    kinds = {c.type for c in chain if isinstance(c, ApplicationError)}
    return bool(kinds & {"ActRefused", "ValidationError"}) and all(str(c) for c in chain)


async def fuzz(stack: Stack, cls: type[A.Act], hub: Municipality, today: date) -> list[str]:
    """25 hypothesis payloads at one zone's Update for `cls`, then the valid act; outcomes."""
    from hypothesis import HealthCheck, given, settings

    from tests.payloads import payloads

    fy = fiscal_year_of(today)
    setup, valid = templates(hub, today, fy)[cls]
    zone_id = await stack.service.start_zone(pdca_start(hub, fy))
    for act in [A.ReviewFiscalYear(actor=f.MINISTRY, fy=fy), *setup]:
        await stack.service.act(zone_id, act)
    handle = stack.client.get_workflow_handle(zone_id)
    name = A.UPDATE_NAMES[cls]
    codes = [hub.code, TOWNS[0].code, TOWNS[1].code, "25", "bus-riders"]
    outcomes: list[str] = []
    loop = asyncio.get_running_loop()

    async def send(payload: object) -> None:
        try:
            await handle.execute_update(name, payload)
            outcomes.append("accepted")
        except WorkflowUpdateFailedError as err:
            assert clear(err), f"{name}({payload!r}) refused unclearly: {err.cause!r}"
            outcomes.append("refused")

    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(payloads(cls, valid.model_dump(mode="json"), codes, today))
    def example(payload: object) -> None:
        asyncio.run_coroutine_threadsafe(send(payload), loop).result(30)

    await asyncio.to_thread(example)
    await send(valid.model_dump(mode="json"))
    assert await task_failures(handle) == [], name
    await consistent(stack, zone_id)
    return outcomes


async def test_hostile_payloads_are_accepted_or_refused_clearly(stack: Stack) -> None:
    today = current_jst_date()
    for n, cls in enumerate(templates(f.HIKONE, today, fiscal_year_of(today))):
        outcomes = await fuzz(stack, cls, hub_city(40 + n), today)
        if cls not in (A.Declare, A.OverrideEligibility, A.AdoptPolicy):  # refused in any PDCA zone
            assert outcomes[-1] == "accepted", cls.__name__


async def test_null_act_is_refused_clearly(stack: Stack) -> None:
    zone_id = await stack.service.start_zone(f.start(declared_on=current_jst_date() - timedelta(days=30)))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await stack.client.get_workflow_handle(zone_id).execute_update("draft_agreement", None)
    assert clear(refused.value), repr(refused.value.cause)


# --------------------------------------------------------------------------- oversized


async def test_unknown_or_malformed_update_is_refused_and_recorded_nowhere(stack: Stack) -> None:
    """The zone has one Update handler for every act (workflows/zone.py): a name it does not
    know, or a call without exactly one act, is refused by its validator like any bad act."""
    zone_id = await stack.service.start_zone(f.start(declared_on=current_jst_date() - timedelta(days=30)))
    handle = stack.client.get_workflow_handle(zone_id)
    before = len(await settled_events(handle))
    act = draft(f.HIKONE, TOWNS[0], current_jst_date()).model_dump(mode="json")
    with pytest.raises(WorkflowUpdateFailedError) as unknown:
        await handle.execute_update("sign_treaty", act)
    assert clear(unknown.value) and "sign_treaty" in str(unknown.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as two:
        await handle.execute_update("draft_agreement", args=[act, act])
    assert clear(two.value) and "not 2" in str(two.value.cause)
    assert len(await settled_events(handle)) == before
    assert await task_failures(handle) == []
    accepted = await handle.execute_update("draft_agreement", act, result_type=A.ActResult)
    assert accepted.act == "DraftAgreement" and not accepted.duplicate


async def test_ten_megabyte_vision_is_refused_before_temporal(stack: Stack) -> None:
    today = current_jst_date()
    zone_id = await stack.service.start_zone(pdca_start(f.HIKONE, fiscal_year_of(today)))
    handle = stack.client.get_workflow_handle(zone_id)
    await until(lambda: audit_seqs(stack.engine, zone_id) != [])
    before = len(await settled_events(handle))
    huge = "x" * 10_000_000
    raw = {
        **f.vision_draft(f.HIKONE, today, fiscal_year_of(today), revision=True).model_dump(mode="json"),
        "future_image": huge,
    }
    with pytest.raises(ValidationError) as refused:  # what ZoneService.act's callers build first
        A.DraftVision.model_validate(raw)
    assert "future_image" in str(refused.value) and "at most 20000 characters" in str(refused.value)
    # Past the model (a client without it), Temporal's own gRPC limit refuses it: still nothing recorded.
    with pytest.raises((RPCError, WorkflowUpdateFailedError, Refused)):
        await handle.execute_update("draft_vision", raw)
    assert len(await settled_events(handle)) == before
    assert await task_failures(handle) == []
