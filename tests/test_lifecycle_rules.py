"""The zone lifecycle as pure rules (models.lifecycle, models.deadlines): no Temporal, no I/O.

Each test drives a ZoneState with `perform` and the dates it chooses; a refused act must leave
the state exactly as it was.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from models import acts as A
from models.actor import SYSTEM, Actor, Role
from models.deadlines import MAX_REPEATS, fire_due, next_due, reminders
from models.fiscal import jst_midnight
from models.kpi import KpiStatus
from models.lifecycle import ActRefused, check, initial_state, perform, validate_start
from models.notice import MIC, NoticeKind
from models.perspective import Perspective
from models.programme import Programme
from models.zone import (
    AgreementStatus,
    ConsultationAnswer,
    Phase,
    ProjectStatus,
    Resolution,
    ReviewOutcome,
    VisionStatus,
    ZoneState,
)
from tests import zone_kit as K
from tests.factories import MINISTRY
from tests.zone_kit import CROSS, HIKONE, KOTO_NEIGHBOURS, LATE, SHIGA_TOWNS, actor, copies_to

DECLARED = date(2020, 5, 1)
AISHO, TOYOSATO, KORA = SHIGA_TOWNS


def at(day: date) -> datetime:
    return jst_midnight(day) + timedelta(hours=10)


class Life:
    """One zone's state, moved by acts on the days they happen."""

    def __init__(self, start: A.StartZone, on: date | None = None) -> None:
        self.state, self.first_notices = initial_state(start, at(on or DECLARED))

    def do(self, act: A.Act, on: date) -> list:
        outcome = perform(self.state, act, at(on), on)
        assert not outcome.duplicate, outcome.summary
        return outcome.notices

    def again(self, act: A.Act, on: date) -> None:
        """A retry of an act already recorded: accepted, changes nothing."""
        before = self.state.model_dump()
        assert check(self.state, act, on) is True
        assert perform(self.state, act, at(on), on).duplicate
        assert self.state.model_dump() == before

    def refuse(self, act: A.Act, on: date, *words: str) -> str:
        before = self.state.model_dump()
        with pytest.raises(ActRefused) as err:
            check(self.state, act, on)
        with pytest.raises(ActRefused):
            perform(self.state, act, at(on), on)
        assert self.state.model_dump() == before  # nothing changed
        message = str(err.value)
        for w in words:
            assert w in message, message
        return message

    def fire(self, on: date) -> list:
        return fire_due(self.state, on, at(on))


def recipients(notices: list) -> set[str]:
    return {n.recipient for n in notices}


def conclude(life: Life, neighbour, drafted: date, resolved: date, hub=HIKONE, **kw) -> list:
    life.do(K.draft(hub, neighbour, drafted, **kw), drafted)
    life.do(K.resolution(hub, neighbour, resolved, "議案第10号"), resolved)
    return life.do(K.resolution(neighbour, neighbour, resolved, "議案第20号"), resolved)


def formed(neighbours=KOTO_NEIGHBOURS, on: date = date(2020, 9, 1)) -> Life:
    life = Life(K.declare_start([HIKONE], DECLARED))
    for n in neighbours:
        conclude(life, n, date(2020, 6, 1), on)
    return life


def in_pdca(neighbours=KOTO_NEIGHBOURS, published: date = date(2021, 3, 1), start_fy: int = 2021) -> Life:
    """Formed on 2020-09-01; the vision (FY start_fy, five years) drafted, reviewed, consulted on
    in the seven weeks before it is published."""
    life = formed(neighbours)
    drafted, reviewed, answered = (published - timedelta(days=d) for d in (49, 28, 14))
    life.do(K.vision(HIKONE, drafted, start_fy), drafted)
    life.do(K.council(HIKONE, reviewed), reviewed)
    for n in neighbours:
        life.do(K.answer(n, answered), answered)
    life.do(K.publish(HIKONE, published), published)
    return life


def abolition(neighbour, by, resolved: date, notified: date) -> A.NotifyAbolition:
    return A.NotifyAbolition(
        actor=actor(by),
        neighbour_code=neighbour.code,
        by=by.code,
        resolution=Resolution(municipality_code=by.code, resolved_on=resolved, number="議案第5号"),
        notified_on=notified,
    )


# --------------------------------------------------------------------------- start


def test_declaration_goes_to_each_central_citys_prefecture_and_mic_and_is_forwarded() -> None:
    life = Life(K.declare_start([HIKONE], DECLARED))
    assert life.state.phase is Phase.agreements
    assert recipients(life.first_notices) == copies_to("pref:25")
    kinds = {n.recipient: n.kind for n in life.first_notices}
    assert kinds["pref:25"] is kinds[MIC] is NoticeKind.copy
    assert {kinds[m] for m in K.MINISTRIES} == {NoticeKind.forward}
    dual = Life(K.declare_start([K.TAKIKAWA, K.SUNAGAWA], DECLARED))
    assert recipients(dual.first_notices) == copies_to("pref:01")


def test_a_recorded_past_enters_pdca_without_any_notice() -> None:
    life = Life(K.past_zone(date(2024, 11, 1)))
    assert life.first_notices == []
    assert life.state.phase is Phase.pdca and life.state.imported
    assert all(a.status is AgreementStatus.concluded for a in life.state.agreements.values())
    assert life.state.formed_on == date(2022, 10, 1)
    assert life.state.published_vision is not None and life.state.published_vision.period_end_fy == 2027


def test_validate_start_refuses_what_cannot_exist() -> None:
    town_hub = K.declare_start([AISHO], DECLARED)
    with pytest.raises(ActRefused, match="中心市の要件を満たしていません"):
        validate_start(town_hub)
    by_clerk = town_hub.model_copy(
        update={"override_reason": "地域の実情による特例", "started_by": actor(AISHO)}
    )
    with pytest.raises(ActRefused, match="総務省のみ"):
        validate_start(by_clerk)
    validate_start(by_clerk.model_copy(update={"started_by": MINISTRY}))

    vision_only = K.past_zone(date(2024, 11, 1), neighbours=[])
    with pytest.raises(ActRefused, match="締結済みの協定"):
        validate_start(vision_only)
    policy_of_a_pair = K.declare_start([HIKONE], DECLARED, past=A.RecordedPast(policy_adopted_on=DECLARED))
    with pytest.raises(ActRefused, match="単独の合併市による圏域のみ"):
        validate_start(policy_of_a_pair)


def test_a_recorded_single_city_policy_cannot_be_adopted_twice() -> None:
    start = K.declare_start(
        [K.SADO], DECLARED, single_city=True, past=A.RecordedPast(policy_adopted_on=date(2020, 7, 1))
    )
    life = Life(start)
    assert life.state.phase is Phase.vision and life.state.policy is not None
    policy = A.AdoptPolicy(
        actor=actor(K.SADO),
        initiatives=K.initiatives(),
        resolution=Resolution(municipality_code=K.SADO.code, resolved_on=date(2020, 8, 1), number="1"),
    )
    life.refuse(policy, date(2020, 8, 1), "策定済み")


# --------------------------------------------------------------------------- agreements


def test_cross_prefecture_agreement_is_copied_to_both_prefectures() -> None:
    life = Life(K.declare_start([HIKONE], DECLARED))
    life.do(K.draft(HIKONE, CROSS, date(2020, 6, 1)), date(2020, 6, 1))
    assert life.do(K.resolution(HIKONE, CROSS, date(2020, 7, 1)), date(2020, 7, 1)) == []
    ag = life.state.agreements[CROSS.code]
    assert ag.status is AgreementStatus.drafted and life.state.phase is Phase.agreements
    notices = life.do(K.resolution(CROSS, CROSS, date(2020, 7, 10)), date(2020, 7, 10))
    assert recipients(notices) == copies_to("pref:25", "pref:21")
    assert ag.status is AgreementStatus.concluded and ag.concluded_on == date(2020, 7, 10)
    assert life.state.formed_on == date(2020, 7, 10) and life.state.phase is Phase.vision
    assert life.state.timeline[-1].summary.startswith("関ケ原町議会が彦根市との協定を議決")


def test_refused_agreement_acts() -> None:
    life = Life(K.declare_start([HIKONE], DECLARED))
    day = date(2020, 6, 1)
    no_management = [i for i in K.initiatives() if i.perspective is not Perspective.management]
    missing = A.DraftAgreement(
        actor=actor(HIKONE), neighbour=CROSS, initiatives=no_management, drafted_on=day
    )
    life.refuse(missing, day, "不足している視点: 圏域マネジメント能力の強化")
    only_living = [i for i in K.initiatives() if i.perspective is Perspective.living]
    both = A.DraftAgreement(actor=actor(HIKONE), neighbour=CROSS, initiatives=only_living, drafted_on=day)
    life.refuse(both, day, "結びつきやネットワークの強化", "圏域マネジメント能力の強化")
    life.refuse(K.draft(HIKONE, CROSS, DECLARED - timedelta(days=1)), day, "宣言", "より前です")
    life.refuse(K.draft(HIKONE, CROSS, day + timedelta(days=1)), day, "未来の日付")
    life.refuse(K.draft(HIKONE, CROSS, day, signer=AISHO), day, "中心市")  # a town drafting
    life.refuse(K.draft(HIKONE, HIKONE, day), day, "1対1")

    life.do(K.draft(HIKONE, CROSS, day), day)
    life.again(K.draft(HIKONE, CROSS, day), day)
    life.refuse(K.draft(HIKONE, CROSS, day + timedelta(days=1)), day + timedelta(days=1), "既にあります")
    life.refuse(K.resolution(AISHO, CROSS, day), day, "当事者ではありません")
    impostor = A.RecordResolution(
        actor=actor(AISHO),
        neighbour_code=CROSS.code,
        resolution=Resolution(municipality_code=CROSS.code, resolved_on=day, number="1"),
    )
    life.refuse(impostor, day, f"{CROSS.code} の団体のみ", AISHO.code)
    prefecture = impostor.model_copy(update={"actor": Actor(role=Role.prefecture, code="21")})
    life.refuse(prefecture, day, "都道府県")
    life.refuse(K.resolution(CROSS, CROSS, day - timedelta(days=1)), day, "協定案の作成", "より前です")
    life.refuse(K.resolution(CROSS, CROSS, day + timedelta(days=1)), day, "未来の日付")
    life.refuse(K.resolution(CROSS, AISHO, day), day, "協定はありません")

    life.do(K.resolution(CROSS, CROSS, day, "議案第20号"), day)
    life.again(K.resolution(CROSS, CROSS, day, "議案第20号"), day)
    life.refuse(K.resolution(CROSS, CROSS, day, "議案第21号"), day, "議決は登録済み", "議案第20号")


def test_metropolitan_agreements_are_organised_by_the_three_roles() -> None:
    hub, iyo = K.MATSUYAMA, K.MATSUYAMA_NEIGHBOURS[0]
    metro = Programme.metropolitan
    life = Life(K.declare_start([hub], DECLARED, programme=metro))
    assert recipients(life.first_notices) == copies_to("pref:38")
    day = date(2020, 6, 1)
    no_role_three = [i for i in K.initiatives(metro) if i.perspective is not Perspective.services]
    act = A.DraftAgreement(actor=actor(hub), neighbour=iyo, initiatives=no_role_three, drafted_on=day)
    life.refuse(act, day, "圏域全体の生活関連機能サービスの向上")
    settlement = A.DraftAgreement(
        actor=actor(hub), neighbour=iyo, initiatives=K.initiatives(), drafted_on=day
    )
    life.refuse(settlement, day, "連携中枢都市圏の分野ではありません")
    notices = conclude(life, iyo, day, day, hub=hub, programme=metro)
    assert life.state.agreements[iyo.code].title == "連携協約(伊予市)"
    assert recipients(notices) == copies_to("pref:38")


def test_dual_centre_agreements_name_their_hub() -> None:
    taki, suna = K.TAKIKAWA, K.SUNAGAWA
    life = Life(K.declare_start([taki, suna], DECLARED))
    day = date(2020, 6, 1)
    conclude(life, suna, day, day, hub=taki)
    conclude(life, K.NAIE, day, day, hub=suna)
    life.refuse(K.draft(suna, K.SHINTOTSUKAWA, day, signer=taki), day, "当事者である中心市")
    life.refuse(K.draft(CROSS, K.SHINTOTSUKAWA, day, signer=taki), day, "中心市ではありません")
    assert life.state.member_codes() == [taki.code, suna.code, K.NAIE.code]
    assert {a.hub_code for a in life.state.agreements.values()} == {taki.code, suna.code}


# --------------------------------------------------------------------------- abolition


@pytest.mark.parametrize(
    ("notified", "months", "effective"),
    [
        (date(2021, 6, 15), 24, date(2023, 6, 15)),  # 起算して2年を経過した日
        (date(2024, 2, 29), 24, date(2026, 3, 1)),  # no Feb 29: the period ends Feb 28
        (date(2021, 12, 31), 2, date(2022, 3, 1)),  # no Feb 31 either
        (date(2021, 8, 31), 1, date(2021, 10, 1)),  # nor Sep 31
        (date(2021, 1, 30), 12, date(2022, 1, 30)),
    ],
)
def test_abolition_takes_effect_when_the_notice_period_has_passed(
    notified: date, months: int, effective: date
) -> None:
    life = Life(K.declare_start([HIKONE], DECLARED))
    conclude(life, CROSS, date(2020, 6, 1), date(2020, 7, 1), months=months)
    notices = life.do(abolition(CROSS, CROSS, notified, notified), notified)
    assert recipients(notices) == {f"muni:{HIKONE.code}", "pref:25", "pref:21", MIC}
    ag = life.state.agreements[CROSS.code]
    assert ag.abolition is not None and ag.abolition.effective_on == effective
    assert next_due(life.state) == effective
    assert life.fire(effective - timedelta(days=1)) == []
    assert ag.status is AgreementStatus.abolition_pending and CROSS.code in life.state.member_codes()
    life.fire(effective)
    assert ag.status is AgreementStatus.abolished and ag.ended_on == effective


def test_a_zone_whose_last_agreement_ends_ends_and_refuses_acts() -> None:
    life = formed([CROSS, AISHO])
    day = date(2021, 4, 1)
    for n in (CROSS, AISHO):
        life.do(abolition(n, HIKONE, day, day), day)
    life.refuse(abolition(CROSS, HIKONE, day, day + timedelta(days=1)), day + timedelta(days=1), "既に廃止")
    late = date(2023, 6, 1)  # the worker was away: noticed two months late
    notices = life.fire(late)
    assert recipients(n for n in notices if n.document.startswith(f"agreement:{CROSS.code}")) == copies_to(
        "pref:25", "pref:21"
    )
    assert life.state.phase is Phase.ended and life.state.ended_on == date(2023, 4, 1)
    ends = [e for e in life.state.timeline if e.act == "abolition_effective"]
    assert [e.on for e in ends] == [date(2023, 4, 1)] * 3  # the effective day, not the day noticed
    assert ends[-1].summary == "協定がすべて廃止されたため圏域は終了しました"
    life.refuse(K.draft(HIKONE, LATE, late), late, "終了")
    life.refuse(A.ReviewFiscalYear(actor=SYSTEM, fy=2023), late, "終了")
    assert reminders(life.state) == []


def test_abolition_needs_its_own_council_and_a_concluded_agreement() -> None:
    life = formed([CROSS])
    day = date(2021, 4, 1)
    own = abolition(CROSS, CROSS, day, day)
    other_council = own.model_copy(
        update={"resolution": Resolution(municipality_code=HIKONE.code, resolved_on=day, number="1")}
    )
    life.refuse(other_council, day, "自身の議会の議決")
    life.refuse(abolition(CROSS, AISHO, day, day), day, "当事者ではありません")
    life.refuse(abolition(CROSS, CROSS, day, day - timedelta(days=1)), day, "廃止の議決", "より前です")
    life.refuse(abolition(CROSS, CROSS, date(2020, 8, 1), date(2020, 8, 2)), day, "協定の締結", "より前です")
    life.do(own, day)
    life.again(own, day)


# --------------------------------------------------------------------------- vision


def test_consultation_waits_for_every_neighbour() -> None:
    life = formed()
    day = date(2021, 1, 10)
    life.do(K.vision(HIKONE, day, 2021), day)
    life.refuse(K.answer(CROSS, day), day, "懇談会の審議前")
    life.refuse(K.publish(HIKONE, day), day, "懇談会の了承")
    life.refuse(K.council(HIKONE, day - timedelta(days=1)), day, "ビジョン案の作成", "より前です")
    life.do(K.council(HIKONE, day, ReviewOutcome.revise), day)
    assert life.state.vision.status is VisionStatus.drafted  # type: ignore[union-attr]
    life.do(K.council(HIKONE, day + timedelta(days=7)), day + timedelta(days=7))
    life.again(K.council(HIKONE, day + timedelta(days=7)), day + timedelta(days=7))
    reviewed = day + timedelta(days=7)
    life.refuse(K.answer(CROSS, day), reviewed, "懇談会", "より前です")
    life.refuse(K.answer(CROSS, reviewed, ConsultationAnswer.agree_with_comments), reviewed, "意見を記入")
    life.refuse(K.answer(LATE, reviewed), reviewed, "協議先ではありません")
    for n in (AISHO, TOYOSATO, KORA):
        life.do(K.answer(n, reviewed), reviewed)
    life.refuse(K.publish(HIKONE, reviewed), reviewed, "関ケ原町")
    life.do(K.answer(CROSS, reviewed, ConsultationAnswer.agree_with_comments, "県境路線に配慮"), reviewed)
    life.refuse(K.answer(CROSS, reviewed), reviewed, "回答は登録済み")
    life.refuse(K.publish(HIKONE, reviewed + timedelta(days=1)), reviewed, "未来の日付")
    notices = life.do(K.publish(HIKONE, reviewed), reviewed)
    neighbours = {f"muni:{n.code}" for n in KOTO_NEIGHBOURS}
    assert recipients(notices) == copies_to(*neighbours, "pref:25", "pref:21")
    assert life.state.phase is Phase.pdca
    life.again(K.publish(HIKONE, reviewed), reviewed)


def test_vision_copies_go_only_to_current_members_prefectures() -> None:
    life = formed([AISHO])
    day = date(2021, 1, 10)
    life.do(K.draft(HIKONE, CROSS, day), day)  # 関ケ原町 (岐阜県) is still only a draft
    life.do(K.vision(HIKONE, day, 2021), day)
    life.do(K.council(HIKONE, day), day)
    life.do(K.answer(AISHO, day), day)
    notices = life.do(K.publish(HIKONE, day), day)
    assert recipients(notices) == copies_to(f"muni:{AISHO.code}", "pref:25")


def test_a_neighbour_that_left_does_not_block_the_vision() -> None:
    life = formed([AISHO, CROSS])
    day = date(2021, 1, 10)
    life.do(abolition(CROSS, CROSS, day, day), day)
    life.do(K.vision(HIKONE, day, 2021), day)
    life.do(K.council(HIKONE, day), day)
    life.do(K.answer(AISHO, day), day)
    life.fire(date(2023, 1, 10))  # 関ケ原町's agreement ends while the draft is out
    later = date(2023, 1, 10)
    notices = life.do(K.publish(HIKONE, later), later)
    assert recipients(notices) == copies_to(f"muni:{AISHO.code}", "pref:25")


def test_a_retried_vision_draft_is_a_duplicate_even_after_it_moved_on() -> None:
    life = formed([AISHO])
    day = date(2021, 1, 10)
    draft = K.vision(HIKONE, day, 2021)
    life.do(draft, day)
    life.do(K.council(HIKONE, day), day)
    life.again(draft, day)  # was: refused ("a reviewed draft is awaiting ...")
    life.do(K.answer(AISHO, day), day)
    life.do(K.publish(HIKONE, day), day)
    life.again(draft, day)  # was: a second vision
    assert [v.version for v in life.state.visions] == [1]
    life.refuse(K.vision(HIKONE, day + timedelta(days=1), 2021, title="別案"), day, "未来の日付")


def test_a_revision_skips_consultation_and_a_new_vision_revises_kpi_targets() -> None:
    life = in_pdca([AISHO])
    v1_kpi = life.state.visions[0].kpis[1]
    day = date(2022, 2, 1)
    life.do(K.vision(HIKONE, day, 2021, revision=True, kpi_list=K.kpis(2021)), day)
    life.do(K.council(HIKONE, day), day)
    assert life.state.vision.consultees == []  # type: ignore[union-attr]
    life.do(K.publish(HIKONE, day), day)
    assert [t.version for t in life.state.kpis["bus-riders"].targets] == [1]  # same targets

    new = date(2026, 4, 10)
    life.do(K.vision(HIKONE, new, 2026, kpi_list=K.kpis(2026)), new)
    life.do(K.council(HIKONE, new), new)
    life.do(K.answer(AISHO, new), new)
    life.do(K.publish(HIKONE, new), new)
    bus = life.state.kpis["bus-riders"]
    assert [(t.version, t.set_on_fy, t.target.fy) for t in bus.targets] == [(1, None, 2025), (2, 2026, 2030)]
    assert len(v1_kpi.targets) == 1  # the first vision still shows its own target
    assert [v.status for v in life.state.visions] == [VisionStatus.superseded] * 2 + [VisionStatus.published]


# --------------------------------------------------------------------------- PDCA


def test_yearly_review_requests() -> None:
    life = in_pdca()
    day = date(2021, 5, 1)
    me = actor(HIKONE)
    life.refuse(A.ReviewFiscalYear(actor=me, fy=2022), day, "2022年度はまだ始まっていません")
    life.refuse(A.ReviewFiscalYear(actor=me, fy=2019), day, "ビジョン公表")
    life.refuse(A.ReviewFiscalYear(actor=actor(AISHO), fy=2021), day, "中心市")
    life.do(A.ReviewFiscalYear(actor=SYSTEM, fy=2021), day)
    life.again(A.ReviewFiscalYear(actor=me, fy=2021), day)
    assert life.state.current_fy == 2021 and life.state.reviews[2021].requested_by == "kenflow"


def test_a_late_review_of_the_first_visions_years_after_a_new_vision() -> None:
    life = in_pdca([AISHO], published=date(2020, 12, 1), start_fy=2020)
    new = date(2025, 4, 10)
    life.do(K.vision(HIKONE, new, 2025), new)
    life.do(K.council(HIKONE, new), new)
    life.do(K.answer(AISHO, new), new)
    life.do(K.publish(HIKONE, new), new)
    life.do(A.ReviewFiscalYear(actor=actor(HIKONE), fy=2023), new)  # was: "before the vision"
    life.refuse(A.ReviewFiscalYear(actor=actor(HIKONE), fy=2019), new, "2020年度")


def test_plan_do_check_action_highlights_what_is_behind() -> None:
    life = in_pdca()
    me, day = actor(HIKONE), date(2022, 5, 10)
    life.do(A.ReviewFiscalYear(actor=me, fy=2021), day)
    life.refuse(A.CompleteCheck(actor=me, fy=2021, checked_on=day), day, "PLAN")
    life.refuse(A.RecordPlan(actor=actor(AISHO), fy=2021, plan="計画"), day, "中心市")
    life.do(A.RecordPlan(actor=me, fy=2021, plan="計画"), day)
    life.again(A.RecordPlan(actor=me, fy=2021, plan="計画"), day)
    projects = [
        ProjectStatus(initiative="病児保育", status="実施中"),
        ProjectStatus(initiative="バス", status="完了"),
    ]
    life.do(A.RecordProjects(actor=actor(AISHO), fy=2021, projects=projects), day)
    life.do(
        A.RecordProjects(
            actor=actor(CROSS), fy=2021, projects=[projects[1].model_copy(update={"note": "増便"})]
        ),
        day,
    )
    # was: a retry of the first DO after the second one was recorded again
    life.again(
        A.RecordProjects(
            actor=actor(CROSS), fy=2021, projects=[projects[1].model_copy(update={"note": "増便"})]
        ),
        day,
    )
    life.refuse(
        A.RecordProjects(actor=actor(LATE), fy=2021, projects=projects), day, "構成市町村ではありません"
    )

    entries = {"sick-child-care": 700.0, "bus-riders": 9_000.0}
    life.refuse(
        K.actuals(2021, {"no-such-kpi": 1}, me), day, "KPI「no-such-kpi」はこの圏域のビジョンにありません"
    )
    life.refuse(K.actuals(2023, entries, me), day, "2023年度はまだ始まっていません")
    life.do(K.actuals(2021, entries, actor(CROSS)), day)
    life.again(K.actuals(2021, entries, me), day)
    life.refuse(
        A.CompleteCheck(actor=me, fy=2021, checked_on=date(2022, 5, 9)), day, "振り返りの開始", "より前です"
    )
    life.refuse(A.CompleteAction(actor=me, fy=2021, reviewed_on=day, results="x"), day, "CHECK")
    life.do(A.CompleteCheck(actor=me, fy=2021, checked_on=day), day)
    review = life.state.reviews[2021]
    assert {e.kpi_id: e.status for e in review.evaluations} == {
        "sick-child-care": KpiStatus.achieved,
        "bus-riders": KpiStatus.behind,
    }
    assert review.highlighted == ["bus-riders"]
    life.refuse(A.RecordPlan(actor=me, fy=2021, plan="変更"), day, "CHECK済み")
    life.do(A.CompleteAction(actor=me, fy=2021, reviewed_on=day, results="検証", revise_vision=True), day)
    summary = life.state.timeline[-1].summary
    assert "要改善のKPI: コミュニティバス年間利用者数" in summary and "ビジョンを改訂します" in summary
    assert review.step == "done"


def test_a_kpi_figure_for_an_unknown_kpi_refuses_the_whole_upload() -> None:
    life = in_pdca()
    upload = A.RecordKpiActuals(
        actor=actor(HIKONE),
        actuals=[
            A.ActualEntry(kpi_id="bus-riders", fy=2021, value=1),
            A.ActualEntry(kpi_id="typo", fy=2021, value=2),
            A.ActualEntry(kpi_id="bus-riders", fy=2021, value=3),
        ],
        source="kpi.xlsx",
    )
    message = life.refuse(upload, date(2021, 6, 1), "2件目", "3件目", "重複")
    assert "nothing was recorded" in message and life.state.actuals == []


# --------------------------------------------------------------------------- reminders


def test_missing_resolutions_are_reminded_every_period_up_to_a_limit() -> None:
    life = Life(K.declare_start([HIKONE], DECLARED))
    drafted = date(2020, 6, 1)
    life.do(K.draft(HIKONE, CROSS, drafted), drafted)
    life.do(K.resolution(HIKONE, CROSS, drafted), drafted)
    first = drafted + timedelta(days=90)
    assert next_due(life.state) == first
    assert life.fire(first - timedelta(days=1)) == []
    assert recipients(life.fire(first)) == {f"muni:{CROSS.code}"}
    assert next_due(life.state) == first + timedelta(days=30)
    sent = 1
    day = first
    while (due := next_due(life.state)) is not None and due < date(2030, 1, 1):
        day = due
        sent += bool(life.fire(day))
    assert sent == MAX_REPEATS
    assert life.state.reminders_fired[-1] == f"resolution-missing:{CROSS.code}:v1#{MAX_REPEATS}"


def test_a_returning_worker_sends_one_reminder_not_a_burst() -> None:
    life = in_pdca([AISHO])
    life.do(A.ReviewFiscalYear(actor=SYSTEM, fy=2021), date(2021, 5, 1))
    # KPI actuals for FY2021 were due 2022-05-31; the worker returns in November
    notices = life.fire(date(2022, 11, 20))
    kpi = [n for n in notices if n.document.startswith("reminder:kpi-actuals-due:2021")]
    assert len({n.document for n in kpi}) == 1
    assert recipients(kpi) == {f"muni:{HIKONE.code}", f"muni:{AISHO.code}"}
    assert len([e for e in life.state.timeline if e.act == "reminder"]) == 1
    assert next_due(life.state) > date(2022, 11, 20)  # type: ignore[operator]


def test_vision_expiry_is_warned_before_and_announced_after_once() -> None:
    life = in_pdca([CROSS])  # period FY2021–FY2025, ends 2026-03-31
    end = date(2026, 3, 31)
    warning = end - timedelta(days=183)
    life.do(A.ReviewFiscalYear(actor=SYSTEM, fy=2021), date(2021, 5, 1))
    life.do(A.RecordPlan(actor=actor(HIKONE), fy=2021, plan="計画"), date(2021, 5, 1))
    life.do(A.CompleteCheck(actor=actor(HIKONE), fy=2021, checked_on=date(2021, 6, 1)), date(2021, 6, 1))
    assert next_due(life.state) == warning
    notices = life.fire(warning)
    assert recipients(notices) == {f"muni:{HIKONE.code}", MIC}
    # a yearly revision keeping the period does not warn again
    day = warning + timedelta(days=10)
    life.do(K.vision(HIKONE, day, 2021, revision=True), day)
    life.do(K.council(HIKONE, day), day)
    life.do(K.publish(HIKONE, day), day)
    assert life.fire(day) == []
    notices = life.fire(end + timedelta(days=1))
    assert recipients(notices) == {f"muni:{HIKONE.code}", MIC, "pref:25", "pref:21"}
    assert life.fire(end + timedelta(days=400)) == []


def test_a_warning_overtaken_by_the_expiry_is_not_sent() -> None:
    life = in_pdca([AISHO])
    notices = life.fire(date(2026, 6, 1))  # asleep through both dates
    docs = {n.document for n in notices}
    assert docs == {"reminder:vision-expired:fy2025"}
    assert "vision-expiring:fy2025" in life.state.reminders_fired


def test_no_expiry_reminders_while_the_next_vision_is_being_written() -> None:
    life = in_pdca([AISHO])
    day = date(2025, 6, 1)
    life.do(K.vision(HIKONE, day, 2026, kpi_list=[]), day)
    assert life.fire(date(2026, 6, 1)) == []


def test_a_null_act_is_refused_not_crashed_on() -> None:
    life = formed([AISHO])
    life.refuse(None, date(2021, 1, 1), "操作の内容を読み取れません")  # type: ignore[arg-type]


def test_states_survive_a_round_trip_as_json() -> None:
    """Continue-as-new carries the state as JSON: nothing may depend on shared objects."""
    life = in_pdca([AISHO, CROSS])
    copy = ZoneState.model_validate_json(life.state.model_dump_json())
    assert copy == life.state


def test_every_act_goes_to_an_update_of_its_own() -> None:
    """The zone's one Update handler finds an act's model by the Update's name: an act without
    a name could not be sent, and two acts under one name would decode as the wrong one."""
    acts = set(A.Act.__subclasses__())
    assert set(A.UPDATE_NAMES) == acts
    assert len(set(A.UPDATE_NAMES.values())) == len(acts)
    assert all(A.ACT_FOR_UPDATE[name] is act for act, name in A.UPDATE_NAMES.items())
