"""KPIs (成果指標): definitions, yearly actuals and their evaluation.

The zone workflow stores KpiDefinition and KpiActual in its state; evaluation is a pure
function of them so CHECK, the CLI and national roll-ups all agree on the numbers.

Definitions, per kind (DOMAIN.md §4). b = baseline value, t = target value, a = actual:

- higher, lower, cumulative: rate = (a − b) / (t − b) · 100, i.e. progress along the road from
  baseline to target: 0% at b, 100% at t, above 100% past it, negative when moving away. The
  one formula serves both directions (for lower, t < b). A cumulative KPI's b and t are running
  totals from the same from_fy (134 over H29–H30 → 350 over H29–R3), so its rate measures the
  share of the *remaining* total achieved since the baseline, not a/t.
- maintain: the level is t. rate = 100 when a ≥ t; below it max(0, a / t · 100), the share of
  the level kept, when t > 0, else 0. A higher/lower/cumulative KPI whose b == t is treated as
  maintain in its own direction (lower: 100 when a ≤ t, else t / a · 100), so nothing ever
  divides by zero; a vanishing span (t − b ≈ 1e-300) is clipped to ±1e12% to stay finite.
- milestone: values 0/1 (未策定 0, 策定済 1). rate = 100 when a ≥ t (reached, or kept for a
  "体制を維持" KPI whose b = t = 1), else 0.

Expected value in a FY: the straight line from (b, baseline FY) to (t, target FY), held flat
before the baseline FY and after the target FY; cumulative KPIs interpolate by the span's end
FY. A milestone's expected value is a step (b until the target FY, then t): a yes/no is never
half done.

Status: no_data without an actual; achieved when rate ≥ 100; on_track when the actual is at or
better than the expected value (≥ for rising kinds, ≤ for lower); otherwise behind. The grade
comes from the unrounded rate alone (GradeBands), so a maintain KPI just under its level can
be graded A yet be behind.

Which figures: the confirmed actual for the FY, else its estimate (見込); the target version in
force in that FY (the latest whose set_on_fy ≤ FY), so a revision never regrades past years.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator

from .kpi_grade import DEFAULT_BANDS, GradeBand, GradeBands, grade
from .kpi_values import ValueFormatError, format_value, milestone_value, parse_value
from .perspective import FIELDS, Perspective

__all__ = [
    "DEFAULT_BANDS",
    "GradeBand",
    "GradeBands",
    "KpiActual",
    "KpiDefinition",
    "KIND_JA",
    "STATUS_JA",
    "KpiError",
    "KpiEvaluation",
    "KpiKind",
    "KpiPoint",
    "KpiStatus",
    "KpiTarget",
    "ValueFormatError",
    "achievement_rate",
    "evaluate",
    "expected_value",
    "format_value",
    "grade",
    "milestone_value",
    "parse_value",
    "pick_actual",
    "revise_target",
    "target_for",
]


class KpiError(ValueError):
    """A KPI definition or revision that would make its evaluation meaningless."""


class KpiKind(StrEnum):
    higher = "higher"  # higher is better
    lower = "lower"  # lower is better
    maintain = "maintain"  # keep a level
    milestone = "milestone"  # a state reached (未策定 → 策定済) or kept (体制を維持)
    cumulative = "cumulative"  # summed over a span of fiscal years


KIND_JA: dict[KpiKind, str] = {
    KpiKind.higher: "増加目標",
    KpiKind.lower: "削減目標",
    KpiKind.maintain: "水準維持",
    KpiKind.milestone: "達成・維持（有無）",
    KpiKind.cumulative: "累計",
}


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"値は有限の数値にしてください (value must be finite, got {v})")
    return v


class KpiPoint(BaseModel):
    """A value at a fiscal year. Milestones use 0/1 (1 = reached/kept).

    `from_fy` is set for cumulative KPIs, whose figures cover from_fy..fy (H29–R3).
    """

    value: float
    fy: int = Field(ge=1989, le=2100)
    from_fy: int | None = Field(default=None, ge=1989, le=2100)
    label: str | None = Field(default=None, max_length=50)  # e.g. 未策定 / 策定済

    _value_finite = field_validator("value")(_finite)

    @model_validator(mode="after")
    def _span_in_order(self) -> KpiPoint:
        if self.from_fy is not None and self.from_fy > self.fy:
            raise ValueError(
                f"累計の開始年度 {self.from_fy} が終了年度 {self.fy} より後です "
                f"(span start {self.from_fy} is after its end {self.fy})"
            )
        return self


class KpiTarget(BaseModel):
    """One version of a KPI's target. A revised target is a new version, never an overwrite."""

    version: int = Field(ge=1)
    baseline: KpiPoint
    target: KpiPoint
    set_on_fy: int | None = None
    reason: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _target_not_before_baseline(self) -> KpiTarget:
        if self.target.fy < self.baseline.fy:
            raise ValueError(
                f"目標年度 {self.target.fy} が基準年度 {self.baseline.fy} より前です "
                f"(target FY {self.target.fy} is before baseline FY {self.baseline.fy})"
            )
        return self


class KpiDefinition(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=200)
    perspective: Perspective
    field: str = Field(pattern=r"^[a-f]$")
    unit: str = Field(default="", max_length=20)
    kind: KpiKind = KpiKind.higher
    targets: list[KpiTarget] = Field(min_length=1)

    @property
    def current(self) -> KpiTarget:
        return self.targets[-1]

    @model_validator(mode="after")
    def _consistent(self) -> KpiDefinition:
        """Refuse definitions whose rate would run backwards or whose field has no label."""
        if self.field not in FIELDS[self.perspective]:
            raise ValueError(
                f"政策分野「{self.field}」は視点 {self.perspective.value} にありません "
                f"(field {self.field!r} does not exist under perspective {self.perspective.value})"
            )
        versions = [t.version for t in self.targets]
        if any(a >= b for a, b in zip(versions, versions[1:], strict=False)):
            raise ValueError(f"目標の版番号は昇順にしてください (target versions must increase: {versions})")
        # Only the current version: older ones were checked under the kind in force when they
        # were set, and a revised vision may change the kind; stored workflow state must load.
        _check_target(self.kind, self.current)
        return self


def _check_target(kind: KpiKind, t: KpiTarget) -> None:
    b, g = t.baseline.value, t.target.value
    if kind in (KpiKind.higher, KpiKind.cumulative) and g < b:
        raise KpiError(
            f"目標値 {format_value(g)} が基準値 {format_value(b)} を下回っています。"
            f"減らす指標は kind=lower にしてください "
            f"(a {kind.value} KPI's target must not be below its baseline; use kind=lower)"
        )
    if kind is KpiKind.lower and g > b:
        raise KpiError(
            f"目標値 {format_value(g)} が基準値 {format_value(b)} を上回っています "
            f"(a lower-is-better KPI's target must not exceed its baseline)"
        )
    if kind is KpiKind.milestone:
        if b not in (0.0, 1.0) or g != 1.0:
            raise KpiError(
                "マイルストーンの基準値は 0/1（未策定/策定済）、目標値は 1 にしてください "
                "(milestone values are 0 or 1, and the target is 1)"
            )
    if kind is KpiKind.cumulative:
        starts = {t.baseline.from_fy, t.target.from_fy} - {None}
        if len(starts) > 1:
            raise KpiError(
                "累計の基準値と目標値は同じ開始年度からの合計にしてください "
                f"(cumulative baseline and target must count from the same FY, got {sorted(starts)})"
            )


class KpiActual(BaseModel):
    kpi_id: str
    value: float
    fy: int = Field(ge=1989, le=2100)
    from_fy: int | None = None
    estimate: bool = False  # 見込
    entered_by: str = ""
    entered_at: datetime | None = None
    label: str | None = None
    note: str | None = Field(default=None, max_length=2000)

    _value_finite = field_validator("value")(_finite)


class KpiStatus(StrEnum):
    achieved = "achieved"
    on_track = "on_track"
    behind = "behind"
    no_data = "no_data"


STATUS_JA: dict[KpiStatus, str] = {
    KpiStatus.achieved: "達成",
    KpiStatus.on_track: "順調",
    KpiStatus.behind: "遅れ",
    KpiStatus.no_data: "データなし",
}


class KpiEvaluation(BaseModel):
    kpi_id: str
    fy: int
    target_version: int
    actual: float | None
    estimate: bool = False
    achievement_rate: float | None  # percent
    expected_value: float | None
    status: KpiStatus
    grade: str | None  # A-D


RATE_LIMIT = 1e12  # percent


def _maintain_rate(level: float, actual: float, higher_is_better: bool) -> float:
    if higher_is_better:
        if actual >= level:
            return 100.0
        return max(0.0, actual / level * 100.0) if level > 0 else 0.0
    if actual <= level:
        return 100.0
    return level / actual * 100.0 if level > 0 else 0.0


def achievement_rate(
    kind: KpiKind | str, baseline: float, target: float, actual: float | None
) -> float | None:
    """Percent of the way from baseline to target (see the module docstring), None without data."""
    if actual is None:
        return None
    kind = KpiKind(kind)
    if kind is KpiKind.milestone:
        return 100.0 if actual >= target else 0.0
    if kind is KpiKind.maintain:
        return _maintain_rate(target, actual, higher_is_better=True)
    if baseline == target:
        return _maintain_rate(target, actual, higher_is_better=kind is not KpiKind.lower)
    rate = (actual - baseline) / (target - baseline) * 100.0
    # Only a vanishing span (t − b ≈ 1e-300) overflows; clip so JSON and Temporal see a number.
    return max(-RATE_LIMIT, min(RATE_LIMIT, rate))


def expected_value(baseline: KpiPoint, target: KpiPoint, fy: int) -> float:
    """The straight line from baseline to target, flat outside their fiscal years."""
    if fy >= target.fy:  # first: when both fall in one FY, the target is what is due
        return target.value
    if fy <= baseline.fy:
        return baseline.value
    share = (fy - baseline.fy) / (target.fy - baseline.fy)
    return baseline.value + (target.value - baseline.value) * share


def _expected_for(kind: KpiKind, t: KpiTarget, fy: int) -> float:
    if kind is KpiKind.milestone:
        return t.target.value if fy >= t.target.fy else t.baseline.value
    return expected_value(t.baseline, t.target, fy)


def _at_or_better(kind: KpiKind, actual: float, expected: float) -> bool:
    slack = 1e-9 * max(1.0, abs(expected))  # 553.6 typed by hand vs 553.6000000000001 computed
    if kind is KpiKind.lower:
        return actual <= expected + slack
    return actual >= expected - slack


def target_for(kpi: KpiDefinition, fy: int) -> KpiTarget:
    """The target version in force for a FY: the latest set on or before it.

    Versions without set_on_fy count as set from the start; if every version was set after the
    FY, the first one applies. So a revision never rewrites the grades of earlier years.
    """
    chosen = kpi.targets[0]
    for t in kpi.targets:
        if t.set_on_fy is None or t.set_on_fy <= fy:
            chosen = t
    return chosen


def pick_actual(kpi: KpiDefinition, actuals: list[KpiActual], fy: int) -> KpiActual | None:
    """The confirmed actual for the FY if any, else its estimate (見込); the last entered wins."""
    start = target_for(kpi, fy).target.from_fy
    mine = [
        a
        for a in actuals
        if a.kpi_id == kpi.id and a.fy == fy and (a.from_fy is None or start is None or a.from_fy == start)
    ]
    confirmed = [a for a in mine if not a.estimate]
    pool = confirmed or mine
    return pool[-1] if pool else None


def evaluate(
    kpi: KpiDefinition,
    actuals: list[KpiActual],
    fy: int,
    bands: GradeBands = DEFAULT_BANDS,
    *,
    version: int | None = None,
) -> KpiEvaluation:
    """Evaluate one KPI for one FY against the target in force then (or `version`)."""
    if version is None:
        t = target_for(kpi, fy)
    else:
        matches = [x for x in kpi.targets if x.version == version]
        if not matches:
            raise KpiError(f"目標の版 {version} はありません (no target version {version} for {kpi.id})")
        t = matches[0]
    found = pick_actual(kpi, actuals, fy)
    expected = _expected_for(kpi.kind, t, fy)
    if found is None:
        return KpiEvaluation(
            kpi_id=kpi.id,
            fy=fy,
            target_version=t.version,
            actual=None,
            achievement_rate=None,
            expected_value=expected,
            status=KpiStatus.no_data,
            grade=None,
        )
    rate = achievement_rate(kpi.kind, t.baseline.value, t.target.value, found.value)
    assert rate is not None
    if rate >= 100.0:
        status = KpiStatus.achieved
    elif _at_or_better(kpi.kind, found.value, expected):
        status = KpiStatus.on_track
    else:
        status = KpiStatus.behind
    return KpiEvaluation(
        kpi_id=kpi.id,
        fy=fy,
        target_version=t.version,
        actual=found.value,
        estimate=found.estimate,
        achievement_rate=rate,
        expected_value=expected,
        status=status,
        grade=grade(rate, bands),
    )


def revise_target(
    kpi: KpiDefinition,
    baseline: KpiPoint | None = None,
    target: KpiPoint | None = None,
    fy: int | None = None,
    reason: str | None = None,
) -> KpiDefinition:
    """A new KpiDefinition with a revised target appended as the next version.

    The old versions stay, so past evaluations remain reproducible. `baseline` defaults to the
    current one; `target`, `fy` (the FY the revision takes effect) and `reason` are required.
    """
    if target is None or fy is None or not (reason or "").strip():
        raise KpiError(
            "目標の改定には新しい目標値・改定年度・理由が必要です "
            "(a revision needs the new target, the FY it takes effect and a reason)"
        )
    last = kpi.current
    if last.set_on_fy is not None and fy < last.set_on_fy:
        raise KpiError(
            f"改定年度 {fy} が前回の改定年度 {last.set_on_fy} より前です "
            f"(revision FY {fy} is before the previous one, {last.set_on_fy})"
        )
    new = KpiTarget(
        version=last.version + 1,
        baseline=baseline or last.baseline,
        target=target,
        set_on_fy=fy,
        reason=reason,
    )
    data = kpi.model_dump()
    data["targets"] = [*data["targets"], new.model_dump()]
    return KpiDefinition.model_validate(data)
