"""The zone workflow end to end on the time-skipping Temporal server, with the real worker:
its projection into a migrated SQLite read model and its deliveries into the file outbox.

Time moves only when a test moves it (Kit.goto / Kit.days), and every act is dated on or before
the workflow's today in Japan.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateStage
from temporalio.common import TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.channels import outbox_file_name, safe_name
from kenflow.service import Refused
from models import acts as A
from models.fiscal import fiscal_year_of, jst_date
from models.kpi import KpiStatus
from models.lifecycle import initial_state, perform
from models.municipality import Municipality
from models.notice import MIC
from models.perspective import Perspective
from models.programme import Programme
from models.zone import (
    AgreementStatus,
    ConsultationAnswer,
    Phase,
    ProjectStatus,
    Resolution,
    TimelineEntry,
    VisionStatus,
)
from tests import zone_kit as K
from tests.zone_kit import (
    CROSS,
    HIKONE,
    KOTO_NEIGHBOURS,
    LATE,
    SHIGA_TOWNS,
    Kit,
    ReadModel,
    Zone,
    accepted_update_ids,
    actor,
    all_runs,
    copies_to,
    patch_markers,
)
from workflows.search import CENTRAL_CITIES, FISCAL_YEAR, PHASE, PREFECTURES, PROGRAMME
from workflows.zone import TIMELINE_ARCHIVE_PATCH, ZoneInput, ZoneWorkflow


@pytest.fixture
def kit(skip_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[Kit]:
    kit = Kit.of(skip_env, ReadModel.create(tmp_path))
    yield kit
    kit.rm.engine.dispose()


def muni(*ms: Municipality) -> set[str]:
    return {f"muni:{m.code}" for m in ms}


def acts_of(timeline: list[TimelineEntry], name: str) -> list[str]:
    return [e.summary for e in timeline if e.act == name]


async def refused(zone: Zone, act: A.Act, *words: str) -> str:
    """The act is refused with a message containing `words`, and leaves no trace anywhere: not in
    the history (no update-accepted event, not even its id), not in the state."""
    before = await zone.state()
    history = await zone.history()
    update_id = f"refused-{type(act).__name__}-{uuid.uuid4().hex[:8]}"
    with pytest.raises(Refused) as err:
        await zone.act(act, update_id=update_id)
    message = str(err.value)
    for w in words:
        assert w in message, message
    after = await zone.history()
    assert update_id not in accepted_update_ids(after)
    assert update_id not in after.to_json()
    assert accepted_update_ids(after) == accepted_update_ids(history)
    state = await zone.state()
    assert (state.version, state.timeline_seq) == (before.version, before.timeline_seq)
    return message


# --------------------------------------------------------------------------- one settlement zone's life


async def test_settlement_zone_lives_through_six_fiscal_years(kit: Kit) -> None:
    async with kit.running():
        d0 = await kit.today()
        fy0 = fiscal_year_of(d0)
        koryo = SHIGA_TOWNS[2]  # 甲良町 leaves
        zone = await kit.start(K.declare_start([HIKONE], d0))

        # 1. 中心市宣言: copies to 滋賀県 and MIC; MIC forwards to the four ministries
        state = await zone.state()
        assert state.phase is Phase.agreements and acts_of(await zone.timeline(), "declare") == [
            "中心市宣言を公表"
        ]
        assert await zone.recipients("declaration") == copies_to("pref:25")
        kinds = {n.recipient: n.kind for n in zone.notices("declaration")}
        assert kinds[MIC] == "copy" and kinds["ministry:mhlw"] == "forward"
        state = await zone.delivered()
        outbox = kit.rm.settings.outbox_dir
        key = f"{zone.zone_id}/declaration/v1/pref:25"
        assert (outbox / safe_name("pref:25") / outbox_file_name(key)).exists()

        # 2. four agreements, one with 関ケ原町 in 岐阜県; each needs both councils' resolutions
        for n in KOTO_NEIGHBOURS:
            await zone.act(K.draft(HIKONE, n, d0))
        d1 = await kit.days(14)
        for n in KOTO_NEIGHBOURS:
            await zone.act(K.resolution(HIKONE, n, d1, "議案第10号"))
            assert (await zone.state()).agreements[n.code].status is AgreementStatus.drafted
            await zone.act(K.resolution(n, n, d1, "議案第20号"))
            assert (await zone.state()).agreements[n.code].status is AgreementStatus.concluded
        state = await zone.state()
        assert state.phase is Phase.vision and state.formed_on == d1
        assert await zone.recipients(f"agreement:{CROSS.code}") == copies_to("pref:25", "pref:21")
        for n in SHIGA_TOWNS:
            assert await zone.recipients(f"agreement:{n.code}") == copies_to("pref:25")

        # 3. the vision: council review, then every neighbour is consulted, then it is published
        v1_fy = fy0 + 1
        d2 = await kit.days(30)
        await zone.act(K.vision(HIKONE, d2, v1_fy))
        await zone.act(K.council(HIKONE, d2))
        assert (await zone.state()).vision.consultees == [n.code for n in KOTO_NEIGHBOURS]  # type: ignore[union-attr]
        await zone.act(K.answer(SHIGA_TOWNS[0], d2))
        await zone.act(
            K.answer(SHIGA_TOWNS[1], d2, ConsultationAnswer.agree_with_comments, "運行本数の確保を")
        )
        await zone.act(K.answer(koryo, d2))
        await refused(zone, K.publish(HIKONE, d2), "関ケ原町")  # waits for all neighbours
        await zone.act(K.answer(CROSS, d2, ConsultationAnswer.agree_with_comments, "県境の路線に配慮を"))
        await zone.act(K.publish(HIKONE, d2))
        state = await zone.state()
        assert state.phase is Phase.pdca and state.vision.status is VisionStatus.published  # type: ignore[union-attr]
        assert state.vision.consultations[CROSS.code].answer is ConsultationAnswer.agree_with_comments  # type: ignore[union-attr]
        assert await zone.recipients("vision") == copies_to(*muni(*KOTO_NEIGHBOURS), "pref:25", "pref:21")

        # 4. six fiscal years of PDCA, with what happens in them
        for year, fy in enumerate(range(v1_fy, v1_fy + 6)):
            if fy == v1_fy + 5:  # the vision's five years are over: a new one (v2)
                await kit.goto(date(fy, 4, 2))
                assert await zone.recipients(f"reminder:vision-expired:fy{fy - 1}") == (
                    {f"muni:{HIKONE.code}", MIC, "pref:25", "pref:21"}
                )
                members = [SHIGA_TOWNS[0], SHIGA_TOWNS[1], CROSS, LATE]
                v2_kpis = K.kpis(fy)
                await K.adopt_vision(zone, HIKONE, members, date(fy, 4, 2), fy, kpi_list=v2_kpis)
                state = await zone.state()
                assert [v.status for v in state.visions] == [VisionStatus.superseded, VisionStatus.published]
                assert state.kpis["bus-riders"].current.target.fy == fy + 4  # a new target version
                assert [t.version for t in state.kpis["bus-riders"].targets] == [1, 2]
                v2 = [n for n in zone.notices("vision") if n.version == 2]  # 甲良町 has left
                assert {n.recipient for n in v2} == copies_to(*muni(*members), "pref:25", "pref:21")
            day = await kit.goto(date(fy, 5, 10))
            await _pdca_year(zone, fy, day, year)
            if year == 1:  # 甲良町 gives notice of abolition (24 months)
                resolved = await kit.goto(date(fy, 6, 1))
                notified = await kit.goto(date(fy, 6, 15))
                await zone.act(
                    A.NotifyAbolition(
                        actor=actor(koryo),
                        neighbour_code=koryo.code,
                        by=koryo.code,
                        resolution=Resolution(
                            municipality_code=koryo.code, resolved_on=resolved, number="議案第5号"
                        ),
                        notified_on=notified,
                    )
                )
                ag = (await zone.state()).agreements[koryo.code]
                assert ag.status is AgreementStatus.abolition_pending
                assert ag.abolition.effective_on == date(fy + 2, 6, 15)  # type: ignore[union-attr]
                notice = f"reminder:abolition-notice:{koryo.code}:v1"
                assert await zone.recipients(notice) == {f"muni:{HIKONE.code}", "pref:25", MIC}
            if year == 2:  # 多賀町 joins
                drafted = await kit.goto(date(fy, 7, 1))
                await zone.act(K.draft(HIKONE, LATE, drafted))
                resolved = await kit.goto(date(fy, 8, 1))
                await zone.act(K.resolution(HIKONE, LATE, resolved))
                await zone.act(K.resolution(LATE, LATE, resolved))
                state = await zone.state()
                assert state.agreements[LATE.code].status is AgreementStatus.concluded
                assert LATE.code in state.member_codes()
                assert await zone.recipients(f"agreement:{LATE.code}") == copies_to("pref:25")
                assert "(新たな加入)" in acts_of(await zone.timeline(), "draft_agreement")[-1]
            if year == 3:  # the notice period ends exactly two years after the notice
                await kit.goto(date(fy, 6, 14), hour=23)
                state = await zone.state()
                assert state.agreements[koryo.code].status is AgreementStatus.abolition_pending
                assert koryo.code in state.member_codes()
                await kit.goto(date(fy, 6, 15), hour=0)  # 00:00 JST + a moment
                await kit.env.sleep(timedelta(minutes=1))
                state = await zone.until(
                    lambda s: s.agreements[koryo.code].status is AgreementStatus.abolished
                )
                assert state.agreements[koryo.code].ended_on == date(fy, 6, 15)
                assert koryo.code not in state.member_codes() and state.phase is Phase.pdca
                entry = [e for e in await zone.timeline() if e.act == "abolition_effective"][-1]
                assert entry.on == date(fy, 6, 15) and "甲良町" in entry.summary
                assert await zone.recipients(f"agreement:{koryo.code}:abolished") == copies_to("pref:25")
            if year == 4:  # half a year before the period ends: the expiry warning
                await kit.goto(date(fy, 10, 1))
                warning = f"reminder:vision-expiring:fy{fy}"
                assert await zone.recipients(warning) == {f"muni:{HIKONE.code}", MIC}

        state = await zone.delivered()
        assert sorted(state.reviews) == list(range(v1_fy, v1_fy + 6))
        assert all(r.step == "done" for r in state.reviews.values())
        timeline = await zone.timeline()
        assert len(acts_of(timeline, "review_fiscal_year")) == 6  # the repeated requests were duplicates
        assert [e.seq for e in timeline] == list(range(1, state.timeline_seq + 1))
        assert state.whole_timeline() == timeline  # the workflow's own, past runs' entries unpacked
        assert len(state.timeline_archive) == state.run - 1  # one packed chunk per earlier run
        assert state.run == v1_fy + 5 - fy0 + 1  # one run per fiscal year the zone lived through
        assert state.notices_sent == len(zone.notices())
        assert all(n.status == "delivered" for n in zone.notices())


async def _pdca_year(zone: Zone, fy: int, day: date, year: int) -> None:
    me = actor(HIKONE)
    first = await zone.act(A.ReviewFiscalYear(actor=me, fy=fy))
    again = await zone.act(A.ReviewFiscalYear(actor=me, fy=fy))  # the calendar asks again: idempotent
    assert not first.duplicate and again.duplicate
    await refused(zone, A.ReviewFiscalYear(actor=me, fy=fy + 1), f"{fy + 1}年度はまだ始まっていません")
    await zone.act(A.RecordPlan(actor=me, fy=fy, plan=f"{fy}年度の事業計画"))
    await zone.act(
        A.RecordProjects(
            actor=actor(SHIGA_TOWNS[0]),
            fy=fy,
            projects=[ProjectStatus(initiative="病児保育の広域利用", status="実施中")],
        )
    )
    # sick-child care keeps pace; the bus stays at its baseline, behind
    await zone.act(
        A.RecordKpiActuals(
            actor=me,
            actuals=[
                A.ActualEntry(kpi_id="sick-child-care", fy=fy, value=700),
                A.ActualEntry(kpi_id="bus-riders", fy=fy, value=9_000),
            ],
        )
    )
    await zone.act(A.CompleteCheck(actor=me, fy=fy, checked_on=day))
    state = await zone.state()
    review = state.reviews[fy]
    status = {e.kpi_id: e.status for e in review.evaluations}
    assert status == {"sick-child-care": KpiStatus.achieved, "bus-riders": KpiStatus.behind}
    assert review.highlighted == ["bus-riders"]
    await zone.act(
        A.CompleteAction(actor=me, fy=fy, reviewed_on=day, results="検証した", improvements="路線再編")
    )
    state = await zone.state()
    assert "コミュニティバス年間利用者数" in acts_of(await zone.timeline(), "complete_action")[-1]
    assert state.reviews[fy].step == "done" and state.current_fy == fy


# --------------------------------------------------------------------------- refused acts


async def test_every_kind_of_refused_act_leaves_nothing_in_the_history(kit: Kit) -> None:
    async with kit.running():
        today = await kit.today()
        declared, drafted = today - timedelta(days=40), today - timedelta(days=20)
        zone = await kit.start(K.declare_start([HIKONE], declared))
        await refused(
            zone,
            A.DraftAgreement(
                actor=actor(HIKONE),
                neighbour=CROSS,
                initiatives=[i for i in K.initiatives() if i.perspective is not Perspective.management],
                drafted_on=drafted,
            ),
            "不足している視点: 圏域マネジメント能力の強化",
        )
        await refused(zone, K.draft(HIKONE, CROSS, declared - timedelta(days=1)), "宣言", "より前です")
        await refused(zone, K.draft(HIKONE, CROSS, today + timedelta(days=1)), "未来の日付")
        await zone.act(K.draft(HIKONE, CROSS, drafted))
        await refused(zone, K.resolution(SHIGA_TOWNS[0], CROSS, today), "当事者ではありません")
        impostor = A.RecordResolution(
            actor=actor(SHIGA_TOWNS[0]),
            neighbour_code=CROSS.code,
            resolution=Resolution(municipality_code=CROSS.code, resolved_on=today, number="議案第1号"),
        )
        await refused(zone, impostor, f"{CROSS.code} の団体のみ", SHIGA_TOWNS[0].code)
        await refused(
            zone, K.resolution(CROSS, CROSS, drafted - timedelta(days=1)), "協定案の作成", "より前です"
        )
        await refused(zone, K.resolution(CROSS, CROSS, today + timedelta(days=1)), "未来の日付")
        await zone.act(K.resolution(HIKONE, CROSS, today, "議案第10号"))
        await refused(zone, K.resolution(HIKONE, CROSS, today, "議案第11号"), "議決は登録済み")
        await zone.act(K.resolution(CROSS, CROSS, today, "議案第20号"))

        await zone.act(K.vision(HIKONE, today, fiscal_year_of(today)))
        await refused(zone, K.answer(CROSS, today), "懇談会の審議前")
        await zone.act(K.council(HIKONE, today))
        await refused(zone, K.answer(SHIGA_TOWNS[0], today), "協議先ではありません")
        await zone.act(K.answer(CROSS, today))
        await zone.act(K.publish(HIKONE, today))
        await zone.act(A.ReviewFiscalYear(actor=actor(HIKONE), fy=fiscal_year_of(today)))
        unknown = A.RecordKpiActuals(
            actor=actor(CROSS),
            actuals=[A.ActualEntry(kpi_id="no-such-kpi", fy=fiscal_year_of(today), value=1)],
        )
        await refused(zone, unknown, "KPI「no-such-kpi」はこの圏域のビジョンにありません")
        outsider = K.actuals(fiscal_year_of(today), {"bus-riders": 1}, actor(SHIGA_TOWNS[0]))
        await refused(zone, outsider, "構成市町村ではありません")
        assert len(accepted_update_ids(await zone.history())) == 8


# --------------------------------------------------------------------------- delivery of acts


async def _send_while_down(zone: Zone, update: str, act: A.Act) -> A.ActResult:
    """An act sent with no worker running: it waits, durably, to be accepted."""
    handle = await zone.handle.start_update(
        update,
        act,
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        result_type=A.ActResult,
    )
    return await handle.result()


async def test_acts_sent_while_the_worker_is_down_are_applied_when_it_returns(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = await kit.today()
    zone = await kit.start(K.declare_start([HIKONE], today))  # no worker has seen it yet
    pending = [
        asyncio.create_task(_send_while_down(zone, "draft_agreement", K.draft(HIKONE, n, today)))
        for n in (CROSS, SHIGA_TOWNS[0])
    ]
    await asyncio.sleep(0.5)
    assert not any(p.done() for p in pending)  # nobody to accept them yet
    # The time-skipping server never hands a stopped worker's sticky task back to the shared
    # queue (a real server does after a timeout), so this worker keeps no workflow cache.
    monkeypatch.setattr("worker.Worker", functools.partial(Worker, max_cached_workflows=0))
    async with kit.running():
        results = await asyncio.wait_for(asyncio.gather(*pending), 30)
        assert [r.duplicate for r in results] == [False, False]
        state = await zone.delivered()
        assert set(state.agreements) == {CROSS.code, SHIGA_TOWNS[0].code}
        assert await zone.recipients("declaration") == copies_to("pref:25")
        await zone.act(K.resolution(HIKONE, CROSS, today))

    late = asyncio.create_task(_send_while_down(zone, "record_resolution", K.resolution(CROSS, CROSS, today)))
    await asyncio.sleep(0.5)
    assert not late.done()
    async with kit.running():
        result = await asyncio.wait_for(late, 30)
        assert "両議会の議決により協定締結" in result.summary
        state = await zone.delivered()
    assert state.agreements[CROSS.code].status is AgreementStatus.concluded
    assert await zone.recipients(f"agreement:{CROSS.code}") == copies_to("pref:25", "pref:21")


async def test_the_same_act_sent_twice_at_once_is_recorded_once(kit: Kit) -> None:
    async with kit.running():
        today = await kit.today()
        zone = await kit.start(K.declare_start([HIKONE], today))
        results = await asyncio.gather(*(zone.act(K.draft(HIKONE, CROSS, today)) for _ in range(2)))
        assert sorted(r.duplicate for r in results) == [False, True]
        await zone.act(K.resolution(HIKONE, CROSS, today))
        last = K.resolution(CROSS, CROSS, today)
        results = await asyncio.gather(zone.act(last), zone.act(last))
        assert sorted(r.duplicate for r in results) == [False, True]
        await zone.delivered()
    assert len(acts_of(zone.audit(), "draft_agreement")) == 1
    assert len(acts_of(zone.audit(), "record_resolution")) == 2
    assert len(zone.notices(f"agreement:{CROSS.code}")) == len(copies_to("pref:25", "pref:21"))


# --------------------------------------------------------------------------- thirty years


async def test_a_zone_kept_thirty_years_stays_small_per_run_and_complete(kit: Kit) -> None:
    years = 30
    async with kit.running():
        today = await kit.today()
        zone = await kit.start(K.past_zone(today, neighbours=[CROSS], period_years=40))
        first_fy = fiscal_year_of(today) + 1
        me = actor(HIKONE)
        for fy in range(first_fy, first_fy + years):
            day = await kit.goto(date(fy, 5, 1))
            await zone.act(A.ReviewFiscalYear(actor=me, fy=fy))
            await zone.act(A.RecordPlan(actor=me, fy=fy, plan="計画"))
            await zone.act(
                K.actuals(
                    fy, {"sick-child-care": 500 + fy - first_fy, "bus-riders": 9_300 + fy - first_fy}, me
                )
            )
            await zone.act(A.CompleteCheck(actor=me, fy=fy, checked_on=day))
            await zone.act(A.CompleteAction(actor=me, fy=fy, reviewed_on=day, results="検証"))
        state = await zone.delivered()
        timeline = await zone.timeline()
        runs = await all_runs(kit.client, zone.zone_id)
        attrs = (await zone.handle.describe()).typed_search_attributes  # carried across each run
        assert attrs.get(FISCAL_YEAR) == first_fy + years - 1 and attrs.get(PHASE) == "pdca"

    assert sorted(state.reviews) == list(range(first_fy, first_fy + years))
    assert all(r.step == "done" and len(r.evaluations) == 2 for r in state.reviews.values())
    assert {(a.kpi_id, a.fy) for a in state.actuals} == {
        (k, fy) for k in ("sick-child-care", "bus-riders") for fy in range(first_fy, first_fy + years)
    }
    for name in (
        "review_fiscal_year",
        "record_plan",
        "record_kpi_actuals",
        "complete_check",
        "complete_action",
    ):
        assert len(acts_of(timeline, name)) == years, name
    assert [e.seq for e in timeline] == list(range(1, state.timeline_seq + 1))
    assert state.run == len(runs) and years <= len(runs) <= years + 2  # one run per fiscal year
    # Each year's run holds the same few dozen events; its bytes grow only with the state it carries
    # (about 10 KB a year), far below Temporal's default suggestion (4 Ki events / 4 MB).
    counts = [len(run.events) for run in runs]
    assert max(counts) < 100 and counts[-2] <= counts[len(counts) // 2], counts
    assert max(sum(e.ByteSize() for e in run.events) for run in runs) < 1_000_000
    for run in runs:
        # one patch marker a run (TIMELINE_ARCHIVE_PATCH implies the patches before it) ...
        assert set(patch_markers(run)) == {TIMELINE_ARCHIVE_PATCH}
        # ... and a run hands on its timeline entries packed
        started = run.events[0].workflow_execution_started_event_attributes.input.payloads
        (carried,) = pydantic_data_converter.payload_converter.from_payloads(started, [ZoneInput])
        assert carried.state is None or (carried.state.timeline == [] and carried.state.timeline_archive)
        assert not any(
            e.workflow_task_started_event_attributes.suggest_continue_as_new
            for e in run.events
            if e.HasField("workflow_task_started_event_attributes")
        )


async def test_a_run_handed_a_whole_timeline_keeps_numbering_and_resends_nothing(kit: Kit) -> None:
    """A zone whose last run predates TIMELINE_ARCHIVE_PATCH hands on every entry of its timeline
    as models, all of them already in the read model. The new run writes only the entries it
    adds, numbered on from the last, and packs them all when it continues as new."""
    async with kit.running():
        now = await kit.now()
        today = jst_date(now)
        carried, _ = initial_state(K.declare_start([HIKONE], today), now)
        perform(carried, K.draft(HIKONE, CROSS, today), now, today)
        assert [e.seq for e in carried.timeline] == [1, 2, 3]  # start, declare, draft_agreement
        carried.timeline_seq = 0  # as a state from before timeline_seq arrives: the default
        await kit.client.start_workflow(
            ZoneWorkflow.run, ZoneInput(state=carried), id=carried.zone_id, task_queue=kit.task_queue
        )
        zone = Zone(kit, carried.zone_id)
        await zone.act(K.resolution(HIKONE, CROSS, today))
        state = await zone.state()
    assert (state.run, state.timeline_seq) == (2, 4) and [e.seq for e in state.whole_timeline()] == [
        1,
        2,
        3,
        4,
    ]
    assert [(e.seq, e.act) for e in zone.audit()] == [(4, "record_resolution")]  # 1-3 were not sent again


# --------------------------------------------------------------------------- the other shapes of zone


async def test_metropolitan_area_from_declaration_to_its_end(kit: Kit) -> None:
    hub, (iyo, toon, masaki) = K.MATSUYAMA, K.MATSUYAMA_NEIGHBOURS
    metro = Programme.metropolitan
    async with kit.running():
        d0 = await kit.today()
        zone = await kit.start(K.declare_start([hub], d0, programme=metro, name="松山圏域"))
        assert "連携中枢都市宣言" in acts_of(await zone.timeline(), "declare")[0]
        assert await zone.recipients("declaration") == copies_to("pref:38")
        no_role_two = A.DraftAgreement(
            actor=actor(hub),
            neighbour=iyo,
            initiatives=[i for i in K.initiatives(metro) if i.perspective is not Perspective.urban],
            drafted_on=d0,
        )
        await refused(zone, no_role_two, "高次の都市機能の集積・強化")
        settlement_style = A.DraftAgreement(
            actor=actor(hub), neighbour=iyo, initiatives=K.initiatives(), drafted_on=d0
        )
        await refused(zone, settlement_style, "連携中枢都市圏の分野ではありません")
        for n in (iyo, toon, masaki):
            await K.conclude(zone, hub, n, d0, d0, programme=metro)
        state = await zone.state()
        assert {a.title for a in state.agreements.values()} == {
            f"連携協約({n.name})" for n in (iyo, toon, masaki)
        }
        assert await zone.recipients(f"agreement:{iyo.code}") == copies_to("pref:38")

        fy = fiscal_year_of(d0)
        d1 = await kit.days(20)
        await K.adopt_vision(
            zone, hub, [iyo, toon, masaki], d1, fy, kpi_list=K.metro_kpis(fy), perspective=Perspective.growth
        )
        state = await zone.state()
        assert (
            state.phase is Phase.pdca
            and "連携中枢都市圏ビジョン" in acts_of(await zone.timeline(), "publish_vision")[0]
        )
        assert await zone.recipients("vision") == copies_to(*muni(iyo, toon, masaki), "pref:38")
        await K.pdca_year(zone, hub, fy, {"joint-research": 2}, d1)  # fewer than the baseline: D
        review = (await zone.state()).reviews[fy]
        assert review.highlighted == ["joint-research"] and review.evaluations[0].grade == "D"

        # every 連携協約 is abolished: the area ends and its workflow completes
        d2 = await kit.days(10)
        for n in (iyo, toon, masaki):
            await zone.act(
                A.NotifyAbolition(
                    actor=actor(hub),
                    neighbour_code=n.code,
                    by=hub.code,
                    resolution=Resolution(municipality_code=hub.code, resolved_on=d2, number="議案第9号"),
                    notified_on=d2,
                )
            )
        await kit.goto(date(d2.year + 2, d2.month, d2.day) + timedelta(days=1))
        final = await zone.handle.result()
    assert final.phase is Phase.ended and final.ended_on == date(d2.year + 2, d2.month, d2.day)
    assert all(a.status is AgreementStatus.abolished for a in final.agreements.values())
    assert acts_of(zone.audit(), "abolition_effective")[-1] == "協定がすべて廃止されたため圏域は終了しました"
    assert not final.notices  # every notice was delivered before the workflow completed
    assert (await zone.handle.describe()).status is WorkflowExecutionStatus.COMPLETED


async def test_dual_centre_zone_with_an_agreement_between_its_two_cities(kit: Kit) -> None:
    taki, suna = K.TAKIKAWA, K.SUNAGAWA
    async with kit.running():
        d0 = await kit.today()
        zone = await kit.start(K.declare_start([taki, suna], d0, name="中空知定住自立圏"))
        assert await zone.recipients("declaration") == copies_to("pref:01")
        await refused(zone, K.draft(suna, K.NAIE, d0, signer=taki), "当事者である中心市")
        await K.conclude(zone, taki, suna, d0, d0)  # the two centres' own agreement
        await K.conclude(zone, suna, K.NAIE, d0, d0)  # 奈井江町 chooses 砂川市
        await K.conclude(zone, taki, K.SHINTOTSUKAWA, d0, d0)  # 新十津川町 chooses 滝川市
        state = await zone.state()
        assert {c: a.hub_code for c, a in state.agreements.items()} == {
            suna.code: taki.code,
            K.NAIE.code: suna.code,
            K.SHINTOTSUKAWA.code: taki.code,
        }
        assert state.member_codes() == [taki.code, suna.code, K.NAIE.code, K.SHINTOTSUKAWA.code]
        assert await zone.recipients(f"agreement:{suna.code}") == copies_to("pref:01")

        fy = fiscal_year_of(d0)
        await zone.act(K.vision(suna, d0, fy))  # either central city writes the vision
        await zone.act(K.council(taki, d0))
        assert (await zone.state()).vision.consultees == [K.NAIE.code, K.SHINTOTSUKAWA.code]  # type: ignore[union-attr]
        await refused(zone, K.answer(suna, d0), "協議先ではありません")
        for n in (K.NAIE, K.SHINTOTSUKAWA):
            await zone.act(K.answer(n, d0))
        await zone.act(K.publish(taki, d0))
        assert await zone.recipients("vision") == copies_to(*muni(K.NAIE, K.SHINTOTSUKAWA), "pref:01")
        await K.pdca_year(zone, suna, fy, {"sick-child-care": 700, "bus-riders": 12_500}, d0)
        state = await zone.delivered()
    assert state.phase is Phase.pdca and state.reviews[fy].step == "done"
    assert state.reviews[fy].highlighted == []


async def test_single_merged_city_adopts_a_policy_instead_of_agreements(kit: Kit) -> None:
    sado = K.SADO
    async with kit.running():
        d0 = await kit.today()
        zone = await kit.start(K.declare_start([sado], d0, name="佐渡定住自立圏", single_city=True))
        await refused(zone, K.draft(sado, CROSS, d0), "形成方針を定めます")
        policy = A.AdoptPolicy(
            actor=actor(sado),
            initiatives=K.initiatives(),
            resolution=Resolution(municipality_code=sado.code, resolved_on=d0, number="議案第30号"),
        )
        await zone.act(policy)
        state = await zone.state()
        assert state.phase is Phase.vision and state.formed_on == d0 and state.policy is not None
        assert await zone.recipients("policy") == copies_to("pref:15")
        fy = fiscal_year_of(d0)
        await zone.act(K.vision(sado, d0, fy))
        await zone.act(K.council(sado, d0))
        assert (await zone.state()).vision.consultees == []  # type: ignore[union-attr]
        await zone.act(K.publish(sado, d0))  # nobody to consult
        assert await zone.recipients("vision") == copies_to("pref:15")
        await K.pdca_year(zone, sado, fy, {"sick-child-care": 500}, d0)
        state = await zone.delivered()
    assert state.phase is Phase.pdca and state.reviews[fy].step == "done"
    assert {e.kpi_id: e.status for e in state.reviews[fy].evaluations}["bus-riders"] is KpiStatus.no_data


async def test_zone_from_its_recorded_past_enters_pdca_without_old_notices(kit: Kit) -> None:
    async with kit.running():
        today = await kit.today()
        fy = fiscal_year_of(today)
        zone = await kit.start(K.past_zone(today))
        state = await zone.until(lambda s: s.phase is Phase.pdca)
        assert state.imported and state.formed_on == date(fy - 2, 10, 1)
        assert [e.act for e in await zone.timeline()] == ["start", "declare"] + ["import_agreement"] * 4 + [
            "import_vision"
        ]
        await zone.act(A.ReviewFiscalYear(actor=actor(HIKONE), fy=fy - 1))  # the vision's first year
        await zone.act(K.actuals(fy - 1, {"bus-riders": 9_500}, actor(CROSS)))
        await kit.days(3)
        state = await zone.delivered()
    assert state.reviews[fy - 1].requested_by and state.actuals[0].value == 9_500
    # no 宣言・協定・ビジョン copies: they went out on paper long ago. Only a reminder may go out
    # (the KPI actuals of last year are overdue, depending on today's date): once, not a burst.
    documents = [n.document for n in zone.notices()]
    assert all(d.startswith("reminder:kpi-actuals-due:") for d in documents), documents
    assert len(set(documents)) <= 1


async def test_acts_leave_the_zones_timer_alone_unless_a_deadline_comes_nearer(kit: Kit) -> None:
    """The zone sleeps until its next deadline or fiscal year. An act moves that timer only
    when it brings a deadline nearer: the first draft does (its councils' resolutions are due
    in 90 days), the resolutions and a second draft due the same day do not. The reminder then
    fires on its day, not at the fiscal year's end."""
    async with kit.running():
        fy = fiscal_year_of(await kit.today()) + 1
        day = await kit.goto(date(fy, 4, 10))  # the next fiscal year is almost a year away
        zone = await kit.start(K.declare_start([HIKONE], day))
        await zone.delivered()

        def timers_started(history: object) -> int:
            return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)  # type: ignore[attr-defined]

        before = timers_started(await zone.history())
        await K.conclude(zone, HIKONE, CROSS, day, day)
        await zone.act(K.draft(HIKONE, SHIGA_TOWNS[0], day))
        await zone.delivered()
        assert timers_started(await zone.history()) - before == 1  # four acts, one new timer

        await kit.goto(day + timedelta(days=90))
        state = await zone.until(lambda s: bool(s.reminders_fired))
        assert state.reminders_fired == [f"resolution-missing:{SHIGA_TOWNS[0].code}:v1#1"]
        reminders = [n for n in zone.notices() if n.document.startswith("reminder:resolution-missing")]
        assert {n.recipient for n in reminders} == muni(HIKONE, SHIGA_TOWNS[0])
        assert {jst_date(n.created_at) for n in reminders} == {day + timedelta(days=90)}


async def test_search_attributes_follow_the_zone(kit: Kit) -> None:
    async with kit.running():
        today = await kit.today()
        fy = fiscal_year_of(today)
        zone = await kit.start(K.past_zone(today))
        await zone.act(A.ReviewFiscalYear(actor=actor(HIKONE), fy=fy))
        attrs: TypedSearchAttributes = (await zone.handle.describe()).typed_search_attributes
        assert attrs.get(PHASE) == "pdca" and attrs.get(PROGRAMME) == "settlement"
        assert attrs.get(CENTRAL_CITIES) == [HIKONE.code]
        assert attrs.get(PREFECTURES) == ["21", "25"] and attrs.get(FISCAL_YEAR) == fy

        metro = await kit.start(K.declare_start([K.MATSUYAMA], today, programme=Programme.metropolitan))
        await metro.act(
            K.draft(K.MATSUYAMA, K.MATSUYAMA_NEIGHBOURS[0], today, programme=Programme.metropolitan)
        )
        attrs = (await metro.handle.describe()).typed_search_attributes
        assert attrs.get(PHASE) == "agreements" and attrs.get(PROGRAMME) == "metropolitan"
        assert attrs.get(PREFECTURES) == ["38"] and attrs.get(FISCAL_YEAR) is None


async def test_a_start_that_bypasses_the_service_is_still_checked(kit: Kit) -> None:
    town_hub = K.SHIGA_TOWNS[0]  # a town cannot be a central city
    async with kit.running():
        start = K.declare_start([town_hub], await kit.today())
        handle = await kit.client.start_workflow(
            ZoneWorkflow.run, ZoneInput(start=start), id=start.zone_id, task_queue=kit.task_queue
        )
        with pytest.raises(WorkflowFailureError) as err:
            await handle.result()
    assert "中心市の要件を満たしていません" in str(err.value.cause)
