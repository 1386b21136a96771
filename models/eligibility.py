"""Who may be the hub of a zone: 中心市 (settlement) and 連携中枢都市 (metropolitan).

The rules are the seed's (MIC briefing, 2019-11-01) and every verdict lists each rule with the
figures used, in Japanese, because a clerk must be able to check the arithmetic and quote it in
a declaration. Missing figures never crash: the rule is reported as "unknown" (not passed).

Decisions on the seed's approximate words, kept as constants so they can be argued with:
- 「人口5万人程度以上（少なくとも4万人超）」: ≥ 50,000 passes; 40,000 < pop < 50,000 passes
  with a caveat (程度); ≤ 40,000 fails.
- 「昼夜間人口比率おおむね１以上」 (metropolitan hub only): ≥ 1 passes, ≥ 0.95 passes with a
  caveat, below fails. Where the seed says plainly 「１以上」 (central city, each city of a
  pair) it is applied strictly.
- 「人口１０万人程度以上」 (each city of a metropolitan pair): the seed reads 5万人程度 as
  "at least more than 4万" (80%); the same proportion gives a caveat band 80,000 < pop < 100,000.
- 「概ね１時間以内」: ≤ 60 minutes passes; more fails (the municipalities may argue otherwise).
- 「地方圏」 (metropolitan hub): the seed lists 岐阜市 and 姫路市, in 三大都市圏 prefectures, as
  declared 連携中枢都市, so it is the settlement location rule again: outside the 11 prefectures,
  or inside them with less than 10% commuting to the special wards or a designated city.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field, model_validator

from .codes import METRO_AREA_PREFECTURES
from .municipality import FormerCity, Municipality, MunicipalityKind
from .programme import Programme

SETTLEMENT_POPULATION = 50_000  # 人口5万人程度以上
SETTLEMENT_POPULATION_FLOOR = 40_000  # 少なくとも4万人超
PAIR_POPULATION = 100_000  # 各市が人口10万人程度以上
PAIR_POPULATION_FLOOR = 80_000  # 程度: same 80% proportion as 4万/5万
PAIR_TOTAL_POPULATION = 200_000  # 人口の合計が20万人を超え
METRO_RATIO_TOLERANCE = 0.95  # おおむね1以上
COMMUTE_SHARE_LIMIT = 10.0  # 通勤通学者の割合が1割未満 (percent)
TRAVEL_MINUTES_LIMIT = 60.0  # 概ね1時間以内の交通圏
LOCATION_SETTLEMENT = "地域（三大都市圏）"
LOCATION_METROPOLITAN = "地方圏"


class RuleStatus(StrEnum):
    passed = "passed"
    caveat = "caveat"  # passed on the seed's 程度・おおむね margin: worth a second look
    failed = "failed"
    unknown = "unknown"  # a figure is missing; not passed


class RuleResult(BaseModel):
    rule: str  # stable key: population, day_night_ratio, location, ...
    passed: bool
    detail: str  # Japanese, with the figures used
    label: str = ""  # Japanese name of the rule, for tables
    city: str | None = None  # which city, when a verdict covers two
    status: RuleStatus | None = None

    @model_validator(mode="after")
    def _status_agrees(self) -> RuleResult:
        if self.status is None:
            self.status = RuleStatus.passed if self.passed else RuleStatus.failed
        elif self.passed != (self.status in (RuleStatus.passed, RuleStatus.caveat)):
            raise ValueError(f"status {self.status} contradicts passed={self.passed}")
        return self


class EligibilityVerdict(BaseModel):
    eligible: bool
    programme: Programme
    cities: list[str] = Field(default_factory=list)
    reasons: list[RuleResult]
    notes: list[str] = Field(default_factory=list)  # what the rules here cannot check

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> str:
        """eligible / eligible_with_caveats / undetermined (figures missing) / not_eligible."""
        statuses = {r.status for r in self.reasons}
        if RuleStatus.failed in statuses:
            return "not_eligible"
        if RuleStatus.unknown in statuses:
            return "undetermined"
        return "eligible_with_caveats" if RuleStatus.caveat in statuses else "eligible"


class _Rule:
    """Builds the RuleResults of one rule for one city, so each check reads as a sentence."""

    def __init__(self, key: str, label: str, city: str | None = None) -> None:
        self.key, self.label, self.city = key, label, city

    def _make(self, status: RuleStatus, detail: str) -> RuleResult:
        passed = status in (RuleStatus.passed, RuleStatus.caveat)
        return RuleResult(
            rule=self.key, label=self.label, passed=passed, status=status, detail=detail, city=self.city
        )

    def ok(self, detail: str) -> RuleResult:
        return self._make(RuleStatus.passed, detail)

    def caveat(self, detail: str) -> RuleResult:
        return self._make(RuleStatus.caveat, detail)

    def fail(self, detail: str) -> RuleResult:
        return self._make(RuleStatus.failed, detail)

    def unknown(self, detail: str) -> RuleResult:
        return self._make(RuleStatus.unknown, detail)


def _n(v: int) -> str:
    return f"{v:,}人"


def _x(v: float) -> str:
    return f"{v:g}"


def _verdict(
    programme: Programme, cities: Sequence[Municipality], reasons: list[RuleResult]
) -> EligibilityVerdict:
    notes = []
    if len(cities) == 2:
        notes.append("2市が隣接していることはこの判定では確認していません（別途確認してください）")
    return EligibilityVerdict(
        eligible=all(r.passed for r in reasons),
        programme=programme,
        cities=[c.name for c in cities],
        reasons=reasons,
        notes=notes,
    )


def _city_kind(m: Municipality, city: str | None = None) -> RuleResult:
    rule = _Rule("city", "市であること", city)
    if m.kind is MunicipalityKind.city:
        return rule.ok(f"{m.name}は市です")
    kind = {"town": "町", "village": "村", "special_ward": "特別区"}.get(m.kind.value, m.kind.value)
    return rule.fail(f"{m.name}は{kind}で、市ではありません。中心となるのは市です")


def _not_designated(m: Municipality, city: str | None = None) -> RuleResult:
    rule = _Rule("not_designated", "指定都市でないこと", city)
    if m.designated_city:
        return rule.fail("指定都市は連携中枢都市圏の中心となる都市です。連携中枢都市の要件で判定してください")
    if m.core_city:
        return rule.ok(
            "中核市ですが中心市になれます（函館市・旭川市・松江市は中核市の宣言中心市）。"
            "連携中枢都市の要件も確認してください"
        )
    return rule.ok("指定都市ではありません")


def _population(
    pop: int | None, need: int, floor: int, wording: str, city: str | None = None, what: str = "人口"
) -> RuleResult:
    """≥ need passes; floor < pop < need passes with a caveat (程度); ≤ floor fails."""
    rule = _Rule("population", "人口", city)
    if pop is None:
        return rule.unknown(f"{what}が不明のため判定できません（{wording}が必要）")
    if pop >= need:
        return rule.ok(f"{what} {_n(pop)} ≥ {_n(need)}")
    if pop > floor:
        return rule.caveat(
            f"{what} {_n(pop)} < {_n(need)} ですが {_n(floor)} を超えるため「程度」の範囲として扱います"
            f"（{wording}・要確認）"
        )
    return rule.fail(f"{what} {_n(pop)} ≤ {_n(floor)}（{wording}が必要）")


def _settlement_population(pop: int | None, what: str = "人口") -> RuleResult:
    wording = "5万人程度以上、少なくとも4万人超"
    return _population(pop, SETTLEMENT_POPULATION, SETTLEMENT_POPULATION_FLOOR, wording, what=what)


def _largest_former(m: Municipality) -> FormerCity | None:
    """The former city with the largest population; a single listed one is taken as it."""
    if len(m.former_cities) == 1:
        return m.former_cities[0]
    if any(f.population is None for f in m.former_cities):
        return None
    return max(m.former_cities, key=lambda f: f.population or 0)


def _settlement_ratio(m: Municipality, city: str | None = None) -> RuleResult:
    """昼夜間人口比率1以上; a merged city may instead rely on its most populous former city."""
    rule = _Rule("day_night_ratio", "昼夜間人口比率", city)
    own = m.day_night_ratio
    if own is not None and own >= 1:
        return rule.ok(f"昼夜間人口比率 {_x(own)} ≥ 1")
    own_text = "昼夜間人口比率が不明" if own is None else f"昼夜間人口比率 {_x(own)} < 1"
    if not m.merged:
        if own is None:
            return rule.unknown(f"{own_text}のため判定できません")
        return rule.fail(f"{own_text}（1以上が必要。合併市なら人口最大の旧市の値でも可）")
    former = _largest_former(m)
    if former is None:
        return rule.unknown(f"{own_text}。合併市ですが旧市の人口が不明のため人口最大の旧市を特定できません")
    who = f"（{former.name}" + ("" if former.population is None else f"、人口 {_n(former.population)}") + "）"
    if former.day_night_ratio is None:
        return rule.unknown(f"{own_text}。人口最大の旧市{who}の比率が不明です")
    if former.day_night_ratio >= 1:
        return rule.ok(
            f"{own_text}ですが、合併市のため人口最大の旧市{who}の値 {_x(former.day_night_ratio)} ≥ 1"
        )
    return rule.fail(f"{own_text}、人口最大の旧市{who}の値も {_x(former.day_night_ratio)} < 1")


def _location(m: Municipality, label: str, city: str | None = None) -> RuleResult:
    """Outside the 三大都市圏 prefectures, or inside with < 10% commuting to 特別区・指定都市."""
    rule = _Rule("location", label, city)
    pref = m.prefecture_name
    if m.prefecture_code not in METRO_AREA_PREFECTURES:
        return rule.ok(f"{pref}は三大都市圏の都府県の区域外です")
    inside = f"{pref}は三大都市圏の都府県の区域内です。特別区・指定都市への通勤通学者の割合"
    share = m.commute_share_to_metro
    if share is None:
        return rule.unknown(f"{inside}が不明のため判定できません（1割未満が必要）")
    if share < COMMUTE_SHARE_LIMIT:
        return rule.ok(f"{inside} {_x(share)}% < {_x(COMMUTE_SHARE_LIMIT)}%")
    return rule.fail(f"{inside} {_x(share)}% ≥ {_x(COMMUTE_SHARE_LIMIT)}%（1割未満が必要）")


def _distinct(a: Municipality, b: Municipality) -> RuleResult:
    rule = _Rule("distinct", "異なる2市")
    if a.code != b.code:
        return rule.ok(f"{a.name}と{b.name}")
    return rule.fail(f"同じ市（{a.code}）が2回指定されています")


def settlement_central_city(m: Municipality) -> EligibilityVerdict:
    """中心市の要件: a city, not designated, 人口5万人程度以上, 昼夜間人口比率1以上, 原則3大都市圏外."""
    reasons = [
        _city_kind(m),
        _not_designated(m),
        _settlement_population(m.population),
        _settlement_ratio(m),
        _location(m, LOCATION_SETTLEMENT),
    ]
    return _verdict(Programme.settlement, [m], reasons)


def settlement_dual_centre(a: Municipality, b: Municipality) -> EligibilityVerdict:
    """複眼型中心市: two cities as one centre. The seed names the 8 dual-centre zones but not the
    rule; several of its pairs (名寄市・士別市, 滝川市・砂川市, 中野市・飯山市) are each below
    4万人, so population is judged on the two cities' total, while every other central-city rule
    (市, not designated, 昼夜間人口比率1以上, location) must hold for each city."""
    reasons = [_distinct(a, b)]
    for m in (a, b):
        reasons += [
            _city_kind(m, m.name),
            _not_designated(m, m.name),
            _settlement_ratio(m, m.name),
            _location(m, LOCATION_SETTLEMENT, m.name),
        ]
    if a.population is None or b.population is None:
        reasons.append(_settlement_population(None, "2市の人口の合計"))
    else:
        what = f"2市の人口の合計（{_n(a.population)} + {_n(b.population)}）"
        reasons.append(_settlement_population(a.population + b.population, what))
    return _verdict(Programme.settlement, [a, b], reasons)


def _ratio_about_one(m: Municipality, city: str | None = None) -> RuleResult:
    """昼夜間人口比率おおむね1以上: ≥ 1 passes, ≥ 0.95 passes with a caveat."""
    rule = _Rule("day_night_ratio", "昼夜間人口比率", city)
    r = m.day_night_ratio
    if r is None:
        return rule.unknown("昼夜間人口比率が不明のため判定できません（おおむね1以上が必要）")
    if r >= 1:
        return rule.ok(f"昼夜間人口比率 {_x(r)} ≥ 1")
    tolerance = _x(METRO_RATIO_TOLERANCE)
    if r >= METRO_RATIO_TOLERANCE:
        return rule.caveat(
            f"昼夜間人口比率 {_x(r)} < 1 ですが {tolerance} 以上のため"
            "「おおむね1以上」として扱います（要確認）"
        )
    return rule.fail(f"昼夜間人口比率 {_x(r)} < {tolerance}（おおむね1以上が必要）")


def metropolitan_hub(m: Municipality) -> EligibilityVerdict:
    """連携中枢都市: a designated or core city in 地方圏 with 昼夜間人口比率おおむね1以上."""
    rule = _Rule("designated_or_core", "指定都市・中核市")
    if m.designated_city or m.core_city:
        hub = rule.ok(f"{m.name}は{'指定都市' if m.designated_city else '中核市'}です")
    else:
        hub = rule.fail(
            f"{m.name}は指定都市・中核市ではありません（隣接する2市の要件は2市を指定して判定します）"
        )
    reasons = [_city_kind(m), hub, _ratio_about_one(m), _location(m, LOCATION_METROPOLITAN)]
    return _verdict(Programme.metropolitan, [m], reasons)


def _ratio_at_least_one(m: Municipality) -> RuleResult:
    rule = _Rule("day_night_ratio", "昼夜間人口比率", m.name)
    r = m.day_night_ratio
    if r is None:
        return rule.unknown("昼夜間人口比率が不明のため判定できません（1以上が必要）")
    return rule.ok(f"昼夜間人口比率 {_x(r)} ≥ 1") if r >= 1 else rule.fail(f"昼夜間人口比率 {_x(r)} < 1")


def _pair_total(a: Municipality, b: Municipality) -> RuleResult:
    rule = _Rule("total_population", "2市の人口の合計")
    if a.population is None or b.population is None:
        return rule.unknown("人口が不明な市があるため合計を判定できません（20万人超が必要）")
    total = a.population + b.population
    sum_text = f"{_n(a.population)} + {_n(b.population)} = {_n(total)}"
    if total > PAIR_TOTAL_POPULATION:
        return rule.ok(f"{sum_text} > {_n(PAIR_TOTAL_POPULATION)}")
    return rule.fail(f"{sum_text} ≤ {_n(PAIR_TOTAL_POPULATION)}（20万人超が必要）")


def _travel(minutes: float | None) -> RuleResult:
    rule = _Rule("travel_time", "概ね1時間以内の交通圏")
    if minutes is None:
        return rule.unknown("2市間の所要時間が不明のため判定できません（概ね1時間以内が必要）")
    if minutes < 0:
        return rule.fail(f"所要時間 {_x(minutes)}分 は負の値です")
    if minutes <= TRAVEL_MINUTES_LIMIT:
        return rule.ok(f"所要時間 {_x(minutes)}分 ≤ {_x(TRAVEL_MINUTES_LIMIT)}分")
    return rule.fail(f"所要時間 {_x(minutes)}分 > {_x(TRAVEL_MINUTES_LIMIT)}分（概ね1時間以内が必要）")


def metropolitan_pair(a: Municipality, b: Municipality, travel_minutes: float | None) -> EligibilityVerdict:
    """隣接する2つの市: each 昼夜間人口比率1以上 and 人口10万人程度以上, together over 20万人,
    within about one hour (概ね1時間以内の交通圏); both in 地方圏, which the clause qualifies."""
    reasons = [_distinct(a, b)]
    for m in (a, b):
        pop = _population(m.population, PAIR_POPULATION, PAIR_POPULATION_FLOOR, "10万人程度以上", m.name)
        reasons += [
            _city_kind(m, m.name),
            _ratio_at_least_one(m),
            pop,
            _location(m, LOCATION_METROPOLITAN, m.name),
        ]
    reasons += [_pair_total(a, b), _travel(travel_minutes)]
    return _verdict(Programme.metropolitan, [a, b], reasons)


def check(
    programme: Programme | str,
    central_cities: Sequence[Municipality],
    travel_minutes: float | None = None,
) -> EligibilityVerdict:
    """One city, or two: 複眼型 for settlement, an adjacent pair for metropolitan."""
    programme = Programme(programme)
    cities = list(central_cities)
    if len(cities) == 1:
        single = settlement_central_city if programme is Programme.settlement else metropolitan_hub
        return single(cities[0])
    if len(cities) == 2:
        if programme is Programme.settlement:
            return settlement_dual_centre(cities[0], cities[1])
        return metropolitan_pair(cities[0], cities[1], travel_minutes)
    count = _Rule("hub_count", "中心となる市の数").fail(
        f"{programme.hub_ja}は1市、または2市（複眼型・隣接2市）で指定してください（{len(cities)}市が指定されました）"
    )
    return _verdict(programme, cities, [count])
