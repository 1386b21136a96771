"""KPI evaluation against every example in DOMAIN.md §4 (and the seed), computed by hand."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.kpi import (
    DEFAULT_BANDS,
    GradeBand,
    GradeBands,
    KpiActual,
    KpiDefinition,
    KpiKind,
    KpiPoint,
    KpiStatus,
    KpiTarget,
    achievement_rate,
    evaluate,
    expected_value,
    grade,
    parse_value,
    revise_target,
)

H = 1988  # 平成N年度 = FY(1988 + N)
R = 2018  # 令和N年度 = FY(2018 + N)


def kpi(
    kid: str,
    kind: KpiKind,
    base: tuple[float, int],
    goal: tuple[float, int],
    *,
    from_fy: int | None = None,
    unit: str = "",
) -> KpiDefinition:
    return KpiDefinition(
        id=kid,
        name=kid,
        perspective="living",
        field="a",
        unit=unit,
        kind=kind,
        targets=[
            KpiTarget(
                version=1,
                baseline=KpiPoint(value=base[0], fy=base[1], from_fy=from_fy),
                target=KpiPoint(value=goal[0], fy=goal[1], from_fy=from_fy),
            )
        ],
    )


def act(kid: str, value: float, fy: int, **kw: object) -> KpiActual:
    return KpiActual(kpi_id=kid, value=value, fy=fy, **kw)


# --- DOMAIN.md §4 examples -------------------------------------------------------------------


def test_hikone_sick_child_care_users() -> None:
    # 湖東 (彦根市) 病児・病後児保育の利用者数 484 (H26) → 600 (H31), 555 (H29)
    k = kpi("hikone", KpiKind.higher, (484, H + 26), (600, H + 31))
    e = evaluate(k, [act("hikone", 555, H + 29)], H + 29)
    # rate = (555 − 484)/(600 − 484) = 71/116 = 61.2% → C (56 ≤ 61.2 < 71)
    assert e.achievement_rate == pytest.approx(71 / 116 * 100)
    assert round(e.achievement_rate or 0, 1) == 61.2
    assert e.grade == "C"
    # expected in H29 = 484 + (600 − 484)·(2017 − 2014)/(2019 − 2014) = 484 + 69.6 = 553.6
    assert e.expected_value == pytest.approx(553.6)
    # 555 ≥ 553.6 → on_track
    assert e.status is KpiStatus.on_track
    assert e.target_version == 1 and e.estimate is False


def test_nakatsu_community_bus_estimate() -> None:
    # 九州周防灘 (中津市) コミュニティバス年間利用者数 9,259 (H27) → 12,000 (H31), 10,458 (H30 見込)
    k = kpi("bus", KpiKind.higher, (parse_value("9,259"), H + 27), (parse_value("12,000"), H + 31))
    e = evaluate(k, [act("bus", parse_value("10,458"), H + 30, estimate=True)], H + 30)
    # rate = (10458 − 9259)/(12000 − 9259) = 1199/2741 = 43.7% → D (< 56)
    assert e.achievement_rate == pytest.approx(1199 / 2741 * 100)
    assert round(e.achievement_rate or 0, 1) == 43.7
    assert e.grade == "D"
    # expected in H30 = 9259 + 2741·(2018 − 2015)/(2019 − 2015) = 9259 + 2055.75 = 11314.75
    assert e.expected_value == pytest.approx(11314.75)
    # 10458 < 11314.75 → behind; the figure is a 見込
    assert e.status is KpiStatus.behind
    assert e.estimate is True


def test_imari_operating_cost_lower_is_better() -> None:
    # 伊万里・有田 運営費支出額 211,145千円 (H29) → 186,395千円 (R元) — lower is better
    base, goal = parse_value("211,145千円", "千円"), parse_value("186,395千円", "千円")
    assert (base, goal) == (211145.0, 186395.0)
    k = kpi("imari", KpiKind.lower, (base, H + 29), (goal, R + 1), unit="千円")
    # In H29 the actual is the baseline itself: (211145 − 211145)/(186395 − 211145) = 0% → D,
    # expected = baseline 211,145 → 211,145 ≤ 211,145 → on_track
    e = evaluate(k, [act("imari", 211145, H + 29)], H + 29)
    assert e.achievement_rate == 0.0 and e.grade == "D" and e.status is KpiStatus.on_track
    # H30 (hypothetical 200,000): expected = 211145 − 24750·(2018 − 2017)/(2019 − 2017) = 198,770;
    # rate = (200000 − 211145)/(186395 − 211145) = −11145/−24750 = 45.0% → D; 200,000 > 198,770 → behind
    e = evaluate(k, [act("imari", 200000, H + 30)], H + 30)
    assert e.expected_value == pytest.approx(198770)
    assert e.achievement_rate == pytest.approx(11145 / 24750 * 100)
    assert e.grade == "D" and e.status is KpiStatus.behind
    # R元 (hypothetical 190,000): rate = 21145/24750 = 85.4% → B; expected = target 186,395 → behind
    e = evaluate(k, [act("imari", 190000, R + 1)], R + 1)
    assert e.achievement_rate == pytest.approx(21145 / 24750 * 100)
    assert e.grade == "B" and e.status is KpiStatus.behind
    # R元 at 186,000 (below the target): rate = 25145/24750 = 101.6% → A, achieved
    e = evaluate(k, [act("imari", 186000, R + 1)], R + 1)
    assert e.achievement_rate == pytest.approx(25145 / 24750 * 100)
    assert e.grade == "A" and e.status is KpiStatus.achieved


def test_suonada_pediatric_emergency_kept_state() -> None:
    # 九州周防灘: 365日の小児救急医療体制を維持 — a kept yes/no state: 維持 (1) → 維持 (1)
    k = kpi("er365", KpiKind.milestone, (parse_value("維持"), H + 28), (parse_value("維持"), R + 3))
    # kept in H30: actual 1 ≥ target 1 → 100% → A, achieved
    e = evaluate(k, [act("er365", 1, H + 30, label="維持")], H + 30)
    assert (e.achievement_rate, e.grade, e.status) == (100.0, "A", KpiStatus.achieved)
    # lost in R元: 0 < 1 → 0% → D; the expected state is 1 (kept all along) → behind
    e = evaluate(k, [act("er365", 0, R + 1)], R + 1)
    assert (e.achievement_rate, e.grade, e.status) == (0.0, "D", KpiStatus.behind)
    assert e.expected_value == 1.0


def test_nasu_transport_plan_milestone() -> None:
    # 那須地域: 地域公共交通網形成計画の策定 未策定 (H28) → 策定済 (H29)
    k = kpi("nasu", KpiKind.milestone, (parse_value("未策定"), H + 28), (parse_value("策定済"), H + 29))
    # H29 策定済: 1 ≥ 1 → 100% → A, achieved
    e = evaluate(k, [act("nasu", parse_value("策定済"), H + 29)], H + 29)
    assert (e.achievement_rate, e.grade, e.status) == (100.0, "A", KpiStatus.achieved)
    # H28 still 未策定: 0% → D, but the step expects 0 until the target FY → on_track
    e = evaluate(k, [act("nasu", 0, H + 28)], H + 28)
    assert (e.achievement_rate, e.expected_value, e.status) == (0.0, 0.0, KpiStatus.on_track)
    # H30 still 未策定: expected 1 from H29 on → behind
    e = evaluate(k, [act("nasu", 0, H + 30)], H + 30)
    assert (e.achievement_rate, e.expected_value, e.status) == (0.0, 1.0, KpiStatus.behind)


def test_tagawa_cumulative_scholarships() -> None:
    # 田川広域 給付型奨学金利用者数（累計） 134 (H29–H30) → 350 (H29–R3)
    k = kpi("tagawa", KpiKind.cumulative, (134, H + 30), (350, R + 3), from_fy=H + 29)
    # R元 (hypothetical running total 240 over H29–R元):
    # rate = (240 − 134)/(350 − 134) = 106/216 = 49.1% → D
    # expected (by the span's end FY) = 134 + 216·(2019 − 2018)/(2021 − 2018) = 134 + 72 = 206
    # 240 ≥ 206 → on_track (ahead of the line though the rate is still under half)
    e = evaluate(k, [act("tagawa", 240, R + 1, from_fy=H + 29)], R + 1)
    assert e.achievement_rate == pytest.approx(106 / 216 * 100)
    assert e.expected_value == pytest.approx(206)
    assert e.grade == "D" and e.status is KpiStatus.on_track
    # R3 total 350 → (350 − 134)/216 = 100% → A, achieved
    e = evaluate(k, [act("tagawa", 350, R + 3, from_fy=H + 29)], R + 3)
    assert (e.achievement_rate, e.grade, e.status) == (100.0, "A", KpiStatus.achieved)
    # A total counted from another start (H30–R元) is not this KPI's figure → no_data
    e = evaluate(k, [act("tagawa", 999, R + 1, from_fy=H + 30)], R + 1)
    assert e.status is KpiStatus.no_data


def test_target_already_exceeded() -> None:
    # DOMAIN.md cites "88 against a target of 85"; in the seed that is 庄内北部 (酒田市)
    # 広域利用件数 72 (H26) → 85 (R元), 88 (H30): (88 − 72)/(85 − 72) = 16/13 = 123.1% → A, achieved
    k = kpi("shonai", KpiKind.higher, (72, H + 26), (85, R + 1))
    e = evaluate(k, [act("shonai", 88, H + 30)], H + 30)
    assert e.achievement_rate == pytest.approx(16 / 13 * 100)
    assert (e.grade, e.status) == ("A", KpiStatus.achieved)


def test_iga_emergency_dial() -> None:
    # 伊賀・山城南 救急・健康相談ダイヤル24受付件数 2,648 (H29) → 3,050 (R3), 2,878 (H30)
    k = kpi("iga", KpiKind.higher, (2648, H + 29), (3050, R + 3))
    e = evaluate(k, [act("iga", 2878, H + 30)], H + 30)
    # rate = (2878 − 2648)/(3050 − 2648) = 230/402 = 57.2% → C
    # expected = 2648 + 402·(2018 − 2017)/(2021 − 2017) = 2648 + 100.5 = 2748.5 → on_track
    assert e.achievement_rate == pytest.approx(230 / 402 * 100)
    assert e.expected_value == pytest.approx(2748.5)
    assert (e.grade, e.status) == ("C", KpiStatus.on_track)


def test_miyakonojo_job_placement_rate_maintain() -> None:
    # 都城 一般職業紹介の就職率 53.0% (H30) → 53.0% (R元): keep the level
    k = kpi("job", KpiKind.maintain, (parse_value("53.0%"), H + 30), (parse_value("53.0%", "%"), R + 1))
    # at the level: 100% → A, achieved
    e = evaluate(k, [act("job", 53.0, R + 1)], R + 1)
    assert (e.achievement_rate, e.grade, e.status) == (100.0, "A", KpiStatus.achieved)
    # above it: still 100% (maintain caps at the level)
    assert achievement_rate(KpiKind.maintain, 53.0, 53.0, 55.0) == 100.0
    # below (hypothetical 50.0): 50/53 = 94.3% → A, but under the expected 53.0 → behind
    e = evaluate(k, [act("job", 50.0, R + 1)], R + 1)
    assert e.achievement_rate == pytest.approx(50 / 53 * 100)
    assert (e.grade, e.status, e.expected_value) == ("A", KpiStatus.behind, 53.0)


# --- definitions at the edges ------------------------------------------------------------------


def test_baseline_equals_target_never_divides_by_zero() -> None:
    # higher with b == t acts as maintain: 100 at/above, a/t·100 below
    assert achievement_rate("higher", 50, 50, 50) == 100.0
    assert achievement_rate("higher", 50, 50, 40) == pytest.approx(80.0)
    assert achievement_rate("cumulative", 10, 10, 12) == 100.0
    # lower with b == t keeps at or below: 100 at/below, t/a·100 above
    assert achievement_rate("lower", 50, 50, 40) == 100.0
    assert achievement_rate("lower", 50, 50, 100) == pytest.approx(50.0)
    # level 0: a step
    assert achievement_rate("maintain", 0, 0, 0) == 100.0
    assert achievement_rate("maintain", 0, 0, -1) == 0.0
    assert achievement_rate("lower", 0, 0, 3) == 0.0
    assert achievement_rate("higher", 0, 0, None) is None


def test_expected_value_flat_outside_the_span() -> None:
    b, t = KpiPoint(value=100, fy=2015), KpiPoint(value=200, fy=2020)
    assert expected_value(b, t, 2010) == 100
    assert expected_value(b, t, 2015) == 100
    assert expected_value(b, t, 2016) == pytest.approx(120)  # 100 + 100·1/5
    assert expected_value(b, t, 2020) == 200
    assert expected_value(b, t, 2030) == 200
    same = KpiPoint(value=200, fy=2015)
    assert expected_value(b, same, 2015) == 200  # baseline and target in one FY: no division


def test_no_data_and_estimate_preference() -> None:
    k = kpi("x", KpiKind.higher, (0, 2015), (100, 2020))
    e = evaluate(k, [act("y", 50, 2017)], 2017)  # another KPI's figure
    assert (e.status, e.achievement_rate, e.grade, e.actual) == (KpiStatus.no_data, None, None, None)
    assert e.expected_value == pytest.approx(40)
    both = [act("x", 70, 2017, estimate=True), act("x", 30, 2017), act("x", 90, 2018, estimate=True)]
    e = evaluate(k, both, 2017)
    assert (e.actual, e.estimate) == (30, False)  # the confirmed figure wins over the 見込
    e = evaluate(k, both, 2018)
    assert (e.actual, e.estimate) == (90, True)


def test_revised_target_is_a_new_version() -> None:
    k = kpi("hikone", KpiKind.higher, (484, H + 26), (600, H + 31))
    k2 = revise_target(k, target=KpiPoint(value=650, fy=R + 3), fy=R + 1, reason="目標を上方修正")
    assert k.targets[-1].version == 1  # the original is untouched
    assert [t.version for t in k2.targets] == [1, 2]
    assert k2.current.baseline == k.current.baseline and k2.current.set_on_fy == R + 1
    # H29 is still judged against version 1 (set before the revision)...
    old = evaluate(k2, [act("hikone", 555, H + 29)], H + 29)
    assert old.target_version == 1 and old.grade == "C"
    # ...R2 against version 2: (620 − 484)/(650 − 484) = 136/166 = 81.9% → B
    new = evaluate(k2, [act("hikone", 620, R + 2)], R + 2)
    assert new.target_version == 2
    assert new.achievement_rate == pytest.approx(136 / 166 * 100) and new.grade == "B"
    # an explicit version can be asked for
    assert evaluate(k2, [act("hikone", 620, R + 2)], R + 2, version=1).target_version == 1
    k3 = revise_target(
        k2, KpiPoint(value=500, fy=R + 1), KpiPoint(value=700, fy=R + 5), R + 2, "基準値を更新"
    )
    assert k3.current.version == 3 and k3.current.baseline.value == 500
    with pytest.raises(ValueError):
        revise_target(k, target=KpiPoint(value=650, fy=R + 3), fy=R + 1, reason="")
    with pytest.raises(ValueError):  # a higher-is-better target below its baseline
        revise_target(k, target=KpiPoint(value=400, fy=R + 3), fy=R + 1, reason="下方修正")


@pytest.mark.parametrize(
    ("kind", "base", "goal"),
    [
        (KpiKind.higher, 100, 90),  # backwards for higher
        (KpiKind.lower, 90, 100),  # backwards for lower
        (KpiKind.cumulative, 100, 90),
        (KpiKind.milestone, 0, 2),  # milestones are 0/1
        (KpiKind.milestone, 1, 0),  # and aim at 1
    ],
)
def test_definitions_that_would_run_backwards_are_refused(kind: KpiKind, base: float, goal: float) -> None:
    with pytest.raises(ValidationError):
        kpi("bad", kind, (base, 2015), (goal, 2020))


def test_definition_checks() -> None:
    with pytest.raises(ValidationError):  # target FY before baseline FY
        kpi("bad", KpiKind.higher, (1, 2020), (2, 2015))
    with pytest.raises(ValidationError):  # management has no field e
        KpiDefinition(
            id="m",
            name="m",
            perspective="management",
            field="e",
            targets=[
                KpiTarget(version=1, baseline=KpiPoint(value=0, fy=2015), target=KpiPoint(value=1, fy=2016))
            ],
        )
    with pytest.raises(ValidationError):  # a span that ends before it starts
        KpiPoint(value=1, fy=2015, from_fy=2017)
    with pytest.raises(ValidationError):
        KpiActual(kpi_id="x", value=float("nan"), fy=2015)


# --- grades ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (150, "A"),
        (86, "A"),
        (85.999, "B"),
        (71, "B"),
        (70.9, "C"),
        (56, "C"),
        (55.9, "D"),
        (-20, "D"),
        (None, None),
    ],
)
def test_default_grade_bands(rate: float | None, expected: str | None) -> None:
    assert grade(rate, DEFAULT_BANDS) == expected


def test_custom_bands_and_their_validation() -> None:
    bands = GradeBands.from_thresholds([("S", 100), ("A", 80), ("B", 50)], lowest="C")
    assert [grade(r, bands) for r in (120, 100, 99, 50, 10)] == ["S", "S", "A", "B", "C"]
    assert GradeBands.from_thresholds([("A", 86), ("B", 71), ("C", 56)], lowest="D") == DEFAULT_BANDS
    overlap = [
        GradeBand(grade="A", min=80),
        GradeBand(grade="B", min=50, max=90),
        GradeBand(grade="C", max=50),
    ]
    gap = [GradeBand(grade="A", min=80), GradeBand(grade="B", min=50, max=70), GradeBand(grade="C", max=50)]
    no_floor = [GradeBand(grade="A", min=80), GradeBand(grade="B", min=0, max=80)]
    no_ceiling = [GradeBand(grade="A", min=80, max=200), GradeBand(grade="B", max=80)]
    dup = [GradeBand(grade="A", min=80), GradeBand(grade="A", max=80)]
    for bad in (overlap, gap, no_floor, no_ceiling, dup):
        with pytest.raises(ValidationError):
            GradeBands(bands=bad)


# --- parsing figures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("9,259", 9259.0),
        ("9259", 9259.0),
        ("１２，０００", 12000.0),
        ("211,145千円", 211145.0),
        ("53.0%", 53.0),
        ("２．１１％", 2.11),
        ("1,048百万円", 1048.0),
        ("▲1,200", -1200.0),
        ("-3.5", -3.5),
        (" 484人 ", 484.0),
        ("未策定", 0.0),
        ("策定済", 1.0),
        ("済", 1.0),
        ("未", 0.0),
        ("維持", 1.0),
        ("達成", 1.0),
        (12, 12.0),
    ],
)
def test_parse_value(text: str, value: float) -> None:
    assert parse_value(text) == value


@pytest.mark.parametrize("text", ["", "abc", "12,34", "1,2345", "1e5", "9.259.1", "nan", "inf", "--1"])
def test_parse_value_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_value(text)


def test_parse_value_checks_the_unit() -> None:
    assert parse_value("211,145千円", unit="千円") == 211145.0
    assert parse_value("211,145", unit="千円") == 211145.0  # no unit typed: fine
    with pytest.raises(ValueError, match="千円"):
        parse_value("211,145円", unit="千円")  # 1,000 times off: refused


def test_a_state_whose_kind_changed_still_loads() -> None:
    # The workflow appends versions in place; a revision may turn a KPI from higher into lower.
    k = kpi("cost", KpiKind.higher, (100, 2015), (120, 2020))
    k.targets.append(
        KpiTarget(
            version=2,
            baseline=KpiPoint(value=120, fy=2020),
            target=KpiPoint(value=90, fy=2024),
            set_on_fy=2021,
        )
    )
    k.kind = KpiKind.lower
    reloaded = KpiDefinition.model_validate_json(k.model_dump_json())  # continue-as-new round trip
    # R4 against version 2, actual 100: (100 − 120)/(90 − 120) = −20/−30 = 66.7% → C
    e = evaluate(reloaded, [act("cost", 100, 2022)], 2022)
    assert e.target_version == 2 and e.achievement_rate == pytest.approx(20 / 30 * 100) and e.grade == "C"
