"""Eligibility of a 中心市 and a 連携中枢都市: each rule passing and failing.

The seed states the rules and names the cities (宣言中心市, 複眼型 pairs, 宣言連携中枢都市) but
gives no city's population or day/night ratio, so the figures below are illustrative round
numbers placed around the seed's thresholds; the codes are real (彦根市 25202 → 252026).
"""

from __future__ import annotations

import pytest

from models.codes import METRO_AREA_PREFECTURES, PREFECTURES, check_digit
from models.eligibility import (
    EligibilityVerdict,
    RuleResult,
    RuleStatus,
    check,
    metropolitan_hub,
    metropolitan_pair,
    settlement_central_city,
    settlement_dual_centre,
)
from models.municipality import FormerCity, Municipality, MunicipalityKind
from models.programme import Programme


def city(name: str, code: str, **kw: object) -> Municipality:
    kw.setdefault("population", 112_156)
    kw.setdefault("day_night_ratio", 1.03)
    return Municipality(code=code, name=name, **kw)  # type: ignore[arg-type]


def rule(v: EligibilityVerdict, key: str, city_name: str | None = None) -> RuleResult:
    found = [r for r in v.reasons if r.rule == key and (city_name is None or r.city == city_name)]
    assert len(found) == 1, (key, city_name, v.reasons)
    return found[0]


def hikone(**kw: object) -> Municipality:
    return city("彦根市", "252026", **kw)  # 滋賀県: outside the three great metropolitan areas


def minokamo(**kw: object) -> Municipality:
    return city("美濃加茂市", "21211", **kw)  # 岐阜県: a 宣言中心市 inside a metro-area prefecture


# ----------------------------------------------------------------- settlement central city


def test_hikone_qualifies_with_figures_in_the_details() -> None:
    v = settlement_central_city(hikone())
    assert v.eligible and v.outcome == "eligible" and v.programme is Programme.settlement
    assert v.cities == ["彦根市"]
    assert rule(v, "population").detail == "人口 112,156人 ≥ 50,000人"
    assert rule(v, "day_night_ratio").detail == "昼夜間人口比率 1.03 ≥ 1"
    assert "滋賀県は三大都市圏の都府県の区域外" in rule(v, "location").detail
    assert [r.rule for r in v.reasons] == [
        "city",
        "not_designated",
        "population",
        "day_night_ratio",
        "location",
    ]


@pytest.mark.parametrize(
    ("population", "status", "text"),
    [
        (50_000, RuleStatus.passed, "人口 50,000人 ≥ 50,000人"),
        (49_999, RuleStatus.caveat, "40,000人 を超える"),  # 5万人程度: 少なくとも4万人超
        (40_001, RuleStatus.caveat, "要確認"),
        (40_000, RuleStatus.failed, "人口 40,000人 ≤ 40,000人"),
        (12_000, RuleStatus.failed, "少なくとも4万人超"),
        (0, RuleStatus.failed, "人口 0人"),
        (None, RuleStatus.unknown, "人口が不明"),
    ],
)
def test_population_rule(population: int | None, status: RuleStatus, text: str) -> None:
    v = settlement_central_city(hikone(population=population))
    r = rule(v, "population")
    assert r.status is status and text in r.detail
    assert r.passed is (status in (RuleStatus.passed, RuleStatus.caveat))
    assert v.eligible is r.passed


def test_caveat_and_unknown_outcomes() -> None:
    assert settlement_central_city(hikone(population=45_000)).outcome == "eligible_with_caveats"
    undetermined = settlement_central_city(hikone(population=None))
    assert undetermined.outcome == "undetermined" and not undetermined.eligible
    assert settlement_central_city(hikone(population=1)).outcome == "not_eligible"


@pytest.mark.parametrize(
    ("ratio", "status", "text"),
    [
        (1.0, RuleStatus.passed, "昼夜間人口比率 1 ≥ 1"),
        (1.25, RuleStatus.passed, "1.25 ≥ 1"),
        (0.99, RuleStatus.failed, "昼夜間人口比率 0.99 < 1"),  # 「１以上」: no margin for a 中心市
        (None, RuleStatus.unknown, "昼夜間人口比率が不明"),
    ],
)
def test_day_night_ratio_rule(ratio: float | None, status: RuleStatus, text: str) -> None:
    r = rule(settlement_central_city(hikone(day_night_ratio=ratio)), "day_night_ratio")
    assert r.status is status and text in r.detail


def test_merged_city_may_rely_on_its_most_populous_former_city() -> None:
    former = [
        FormerCity(name="旧A市", population=60_000, day_night_ratio=1.08),
        FormerCity(name="旧B町", population=20_000, day_night_ratio=0.9),
    ]
    v = settlement_central_city(hikone(day_night_ratio=0.97, former_cities=former))
    r = rule(v, "day_night_ratio")
    assert v.eligible and r.status is RuleStatus.passed
    assert "0.97 < 1" in r.detail and "人口最大の旧市（旧A市、人口 60,000人）の値 1.08 ≥ 1" in r.detail


def test_only_the_most_populous_former_city_counts() -> None:
    former = [
        FormerCity(name="旧A市", population=60_000, day_night_ratio=0.95),
        FormerCity(name="旧B市", population=20_000, day_night_ratio=1.2),
    ]
    r = rule(settlement_central_city(hikone(day_night_ratio=0.97, former_cities=former)), "day_night_ratio")
    assert r.status is RuleStatus.failed and "旧A市" in r.detail and "0.95 < 1" in r.detail


def test_merged_city_with_unknown_figures_is_unknown_not_a_crash() -> None:
    two_unknown = [FormerCity(name="旧A市"), FormerCity(name="旧B市", population=1, day_night_ratio=2)]
    r = rule(
        settlement_central_city(hikone(day_night_ratio=0.9, former_cities=two_unknown)), "day_night_ratio"
    )
    assert r.status is RuleStatus.unknown and "特定できません" in r.detail
    no_ratio = [FormerCity(name="旧A市", population=50_000)]
    r = rule(settlement_central_city(hikone(day_night_ratio=None, former_cities=no_ratio)), "day_night_ratio")
    assert r.status is RuleStatus.unknown and "比率が不明" in r.detail


def test_a_single_listed_former_city_is_taken_as_the_largest() -> None:
    former = [FormerCity(name="旧中心市", day_night_ratio=1.1)]
    r = rule(settlement_central_city(hikone(day_night_ratio=None, former_cities=former)), "day_night_ratio")
    assert r.status is RuleStatus.passed and "旧中心市" in r.detail


@pytest.mark.parametrize(
    ("share", "status", "text"),
    [
        (6.5, RuleStatus.passed, "6.5% < 10%"),
        (9.99, RuleStatus.passed, "9.99% < 10%"),
        (10.0, RuleStatus.failed, "10% ≥ 10%（1割未満が必要）"),  # 1割未満: exactly 10% fails
        (35.0, RuleStatus.failed, "35% ≥ 10%"),
        (None, RuleStatus.unknown, "割合が不明"),
    ],
)
def test_ten_percent_commuting_rule_inside_a_metro_area(
    share: float | None, status: RuleStatus, text: str
) -> None:
    r = rule(settlement_central_city(minokamo(commute_share_to_metro=share)), "location")
    assert r.status is status and text in r.detail and "岐阜県は三大都市圏の都府県の区域内" in r.detail


@pytest.mark.parametrize("pref", sorted(PREFECTURES))
def test_location_by_prefecture(pref: str) -> None:
    code = f"{pref}201"
    r = rule(settlement_central_city(city("市", code)), "location")
    if pref in METRO_AREA_PREFECTURES:
        assert r.status is RuleStatus.unknown  # inside: the commuting share is needed
    else:
        assert r.status is RuleStatus.passed  # outside: no share needed


def test_metro_area_prefectures_are_the_seeds_eleven() -> None:
    names = {PREFECTURES[c][:-1] for c in METRO_AREA_PREFECTURES}
    assert names == {"埼玉", "千葉", "東京", "神奈川", "岐阜", "愛知", "三重", "京都", "大阪", "兵庫", "奈良"}


@pytest.mark.parametrize(
    "kind", [MunicipalityKind.town, MunicipalityKind.village, MunicipalityKind.special_ward]
)
def test_a_town_or_village_cannot_be_a_central_city(kind: MunicipalityKind) -> None:
    v = settlement_central_city(city("豊郷町", "25441", kind=kind))
    assert not v.eligible and rule(v, "city").status is RuleStatus.failed


def test_a_designated_city_is_a_metropolitan_hub_not_a_central_city() -> None:
    sapporo = city("札幌市", "01100", designated_city=True, population=1_952_356, day_night_ratio=1.007)
    v = settlement_central_city(sapporo)
    assert not v.eligible and "連携中枢都市" in rule(v, "not_designated").detail
    assert metropolitan_hub(sapporo).eligible


def test_a_core_city_may_be_a_central_city() -> None:
    """The seed lists core cities 【函館市】【旭川市】【松江市】 among the 138 宣言中心市."""
    hakodate = city("函館市", "01202", core_city=True, population=265_979, day_night_ratio=1.02)
    v = settlement_central_city(hakodate)
    assert v.eligible and "中核市" in rule(v, "not_designated").detail


# ------------------------------------------------------------- 複眼型 (dual-centre) zones


def nayoro(**kw: object) -> Municipality:
    kw.setdefault("population", 27_000)
    return city("名寄市", "01221", **kw)


def shibetsu(**kw: object) -> Municipality:
    kw.setdefault("population", 19_000)
    return city("士別市", "01220", **kw)


def test_dual_centre_pair_is_judged_on_its_total_population() -> None:
    """名寄市・士別市 is one of the seed's 8 複眼型 zones; neither city alone has 4万人."""
    v = settlement_dual_centre(nayoro(), shibetsu())
    total = rule(v, "population")
    assert v.eligible and total.status is RuleStatus.caveat
    assert "2市の人口の合計（27,000人 + 19,000人） 46,000人" in total.detail
    assert v.cities == ["名寄市", "士別市"] and any("隣接" in n for n in v.notes)


def test_dual_centre_rules_that_hold_for_each_city() -> None:
    v = settlement_dual_centre(nayoro(day_night_ratio=0.95), shibetsu())
    assert not v.eligible and rule(v, "day_night_ratio", "名寄市").status is RuleStatus.failed
    assert rule(v, "day_night_ratio", "士別市").status is RuleStatus.passed
    v = settlement_dual_centre(nayoro(), shibetsu(designated_city=True))
    assert not v.eligible and rule(v, "not_designated", "士別市").status is RuleStatus.failed


def test_dual_centre_small_total_fails_and_missing_figures_are_unknown() -> None:
    v = settlement_dual_centre(nayoro(population=25_000), shibetsu(population=15_000))
    assert (
        rule(v, "population").status is RuleStatus.failed
        and "40,000人 ≤ 40,000人" in rule(v, "population").detail
    )
    v = settlement_dual_centre(nayoro(population=None), shibetsu())
    assert rule(v, "population").status is RuleStatus.unknown and v.outcome == "undetermined"


def test_dual_centre_needs_two_different_cities() -> None:
    v = settlement_dual_centre(nayoro(), nayoro())
    assert not v.eligible and rule(v, "distinct").status is RuleStatus.failed


# --------------------------------------------------------------------- metropolitan hub


def himeji(**kw: object) -> Municipality:
    """A 宣言連携中枢都市 and 中核市 in 兵庫県, i.e. inside a three-great-areas prefecture."""
    kw.setdefault("core_city", True)
    kw.setdefault("population", 535_664)
    kw.setdefault("commute_share_to_metro", 4.0)
    return city("姫路市", "28201", **kw)


def test_core_city_in_a_regional_area_is_a_hub() -> None:
    v = metropolitan_hub(himeji())
    assert v.eligible and v.programme is Programme.metropolitan
    assert rule(v, "designated_or_core").detail == "姫路市は中核市です"
    assert "4% < 10%" in rule(v, "location").detail and rule(v, "location").label == "地方圏"


def test_hub_location_uses_the_commuting_rule() -> None:
    assert rule(metropolitan_hub(himeji(commute_share_to_metro=12)), "location").status is RuleStatus.failed
    assert metropolitan_hub(himeji(commute_share_to_metro=None)).outcome == "undetermined"


@pytest.mark.parametrize(
    ("ratio", "status"),
    [
        (1.0, RuleStatus.passed),
        (0.97, RuleStatus.caveat),
        (0.95, RuleStatus.caveat),
        (0.94, RuleStatus.failed),
    ]
    + [(None, RuleStatus.unknown)],
)
def test_hub_ratio_is_about_one(ratio: float | None, status: RuleStatus) -> None:
    r = rule(metropolitan_hub(himeji(day_night_ratio=ratio)), "day_night_ratio")
    assert r.status is status
    if status is RuleStatus.caveat:
        assert "おおむね1以上" in r.detail


def test_an_ordinary_city_is_not_a_hub_alone() -> None:
    v = metropolitan_hub(hikone())
    assert not v.eligible and rule(v, "designated_or_core").status is RuleStatus.failed


# --------------------------------------------------------- metropolitan adjacent pair


def yamaguchi(**kw: object) -> Municipality:
    kw.setdefault("population", 193_000)
    return city("山口市", "35203", **kw)


def ube(**kw: object) -> Municipality:
    kw.setdefault("population", 165_000)
    return city("宇部市", "35202", **kw)


def test_adjacent_pair_qualifies() -> None:
    """山口市・宇部市 is a 複眼型 宣言連携中枢都市 in the seed."""
    v = metropolitan_pair(yamaguchi(), ube(), travel_minutes=40)
    assert v.eligible and v.outcome == "eligible"
    assert rule(v, "total_population").detail == "193,000人 + 165,000人 = 358,000人 > 200,000人"
    assert rule(v, "travel_time").detail == "所要時間 40分 ≤ 60分"
    assert rule(v, "population", "宇部市").detail == "人口 165,000人 ≥ 100,000人"
    assert any("隣接" in n for n in v.notes)


def test_pair_city_of_about_100k_passes_with_a_caveat() -> None:
    """高岡市・射水市: 射水市 has a little under 10万人 (人口10万人程度以上)."""
    takaoka = city("高岡市", "16202", population=170_000)
    imizu = city("射水市", "16211", population=92_000)
    v = metropolitan_pair(takaoka, imizu, 25)
    assert v.eligible and v.outcome == "eligible_with_caveats"
    assert rule(v, "population", "射水市").status is RuleStatus.caveat
    assert rule(v, "population", "射水市").status is RuleStatus.caveat
    v = metropolitan_pair(takaoka, city("射水市", "16211", population=80_000), 25)
    assert rule(v, "population", "射水市").status is RuleStatus.failed


def test_pair_total_must_exceed_200k() -> None:
    v = metropolitan_pair(yamaguchi(population=100_000), ube(population=100_000), 30)
    r = rule(v, "total_population")
    assert not v.eligible and r.status is RuleStatus.failed and "200,000人 ≤ 200,000人" in r.detail


def test_pair_each_ratio_is_strictly_one_or_more() -> None:
    v = metropolitan_pair(yamaguchi(), ube(day_night_ratio=0.99), 30)
    assert not v.eligible and rule(v, "day_night_ratio", "宇部市").status is RuleStatus.failed
    assert rule(v, "day_night_ratio", "山口市").status is RuleStatus.passed


@pytest.mark.parametrize(
    ("minutes", "status"),
    [(60, RuleStatus.passed), (59.5, RuleStatus.passed), (61, RuleStatus.failed), (-5, RuleStatus.failed)]
    + [(None, RuleStatus.unknown)],
)
def test_pair_travel_time(minutes: float | None, status: RuleStatus) -> None:
    assert rule(metropolitan_pair(yamaguchi(), ube(), minutes), "travel_time").status is status


def test_pair_missing_figures_and_same_city() -> None:
    v = metropolitan_pair(yamaguchi(population=None), ube(), 30)
    assert v.outcome == "undetermined" and rule(v, "total_population").status is RuleStatus.unknown
    assert rule(metropolitan_pair(ube(), ube(), 10), "distinct").status is RuleStatus.failed


def test_pair_in_a_metro_area_prefecture_needs_the_commuting_share() -> None:
    a = city("A市", "28202", population=150_000)  # 兵庫県
    b = city("B市", "28203", population=150_000, commute_share_to_metro=3)
    v = metropolitan_pair(a, b, 20)
    assert rule(v, "location", "A市").status is RuleStatus.unknown
    assert rule(v, "location", "B市").status is RuleStatus.passed


# -------------------------------------------------------------------------------- check


def test_check_dispatches_on_programme_and_count() -> None:
    assert check(Programme.settlement, [hikone()]) == settlement_central_city(hikone())
    assert check("metropolitan", [himeji()]) == metropolitan_hub(himeji())
    assert check(Programme.settlement, [nayoro(), shibetsu()]) == settlement_dual_centre(nayoro(), shibetsu())
    assert check(Programme.metropolitan, [yamaguchi(), ube()], 40) == metropolitan_pair(
        yamaguchi(), ube(), 40
    )
    assert (
        rule(check(Programme.metropolitan, [yamaguchi(), ube()]), "travel_time").status is RuleStatus.unknown
    )


@pytest.mark.parametrize("n", [0, 3])
def test_check_with_a_wrong_number_of_cities_fails_without_crashing(n: int) -> None:
    cities = [city(f"{i}市", f"25{201 + i}{check_digit(f'25{201 + i}')}") for i in range(n)]
    v = check(Programme.settlement, cities)
    assert not v.eligible and rule(v, "hub_count").status is RuleStatus.failed


def test_verdict_round_trips_through_json() -> None:
    """Zone workflows keep the verdict in their state, which Temporal stores as JSON."""
    v = check(Programme.metropolitan, [yamaguchi(), ube()], 40)
    data = v.model_dump(mode="json")
    assert data["outcome"] == "eligible" and data["reasons"][0].keys() >= {"rule", "passed", "detail"}
    assert EligibilityVerdict.model_validate(data) == v
    assert EligibilityVerdict.model_validate_json(v.model_dump_json()) == v


def test_rule_status_must_agree_with_passed() -> None:
    assert RuleResult(rule="x", passed=False, detail="d").status is RuleStatus.failed
    with pytest.raises(ValueError):
        RuleResult(rule="x", passed=True, detail="d", status=RuleStatus.unknown)
