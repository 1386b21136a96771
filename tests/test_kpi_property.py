"""Properties of the KPI arithmetic that must hold for every input, not just the seed's."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
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
)

values = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
fys = st.integers(min_value=1989, max_value=2060)


def ordered(lo_hi: tuple[float, float]) -> tuple[float, float]:
    return min(lo_hi), max(lo_hi)


@given(st.tuples(values, values).map(ordered), values, values)
@pytest.mark.parametrize("kind", [KpiKind.higher, KpiKind.cumulative])
def test_rising_kinds(kind: KpiKind, bt: tuple[float, float], a1: float, a2: float) -> None:
    b, t = bt
    a1, a2 = min(a1, a2), max(a1, a2)
    r1, r2 = achievement_rate(kind, b, t, a1), achievement_rate(kind, b, t, a2)
    assert r1 is not None and r2 is not None
    assert r1 <= r2  # non-decreasing in the actual
    assert achievement_rate(kind, b, t, t) == 100.0
    if b != t:
        assert achievement_rate(kind, b, t, b) == 0.0


@given(st.tuples(values, values).map(ordered), values, values)
def test_lower_is_better(tb: tuple[float, float], a1: float, a2: float) -> None:
    t, b = tb  # target ≤ baseline
    a1, a2 = min(a1, a2), max(a1, a2)
    r1, r2 = achievement_rate(KpiKind.lower, b, t, a1), achievement_rate(KpiKind.lower, b, t, a2)
    assert r1 is not None and r2 is not None
    assert r1 >= r2  # non-increasing: moving down is progress
    assert achievement_rate(KpiKind.lower, b, t, t) == 100.0
    if b != t:
        assert achievement_rate(KpiKind.lower, b, t, b) == 0.0


@given(values, values, values, values)
def test_maintain(b: float, level: float, a1: float, a2: float) -> None:
    a1, a2 = min(a1, a2), max(a1, a2)
    r1, r2 = (
        achievement_rate(KpiKind.maintain, b, level, a1),
        achievement_rate(KpiKind.maintain, b, level, a2),
    )
    assert r1 is not None and r2 is not None
    assert r1 <= r2 <= 100.0  # non-decreasing, capped at the level
    assert achievement_rate(KpiKind.maintain, b, level, level) == 100.0
    assert achievement_rate(KpiKind.maintain, level, level, level) == 100.0


@given(st.sampled_from([0.0, 1.0]), values, values)
def test_milestone(b: float, a1: float, a2: float) -> None:
    a1, a2 = min(a1, a2), max(a1, a2)
    r1, r2 = achievement_rate(KpiKind.milestone, b, 1.0, a1), achievement_rate(KpiKind.milestone, b, 1.0, a2)
    assert r1 in (0.0, 100.0) and r2 in (0.0, 100.0)
    assert r1 <= r2
    assert achievement_rate(KpiKind.milestone, b, 1.0, 1.0) == 100.0
    if b == 0.0:
        assert achievement_rate(KpiKind.milestone, b, 1.0, 0.0) == 0.0


@given(values, values, values)
@pytest.mark.parametrize("kind", list(KpiKind))
def test_never_divides_by_zero(kind: KpiKind, b: float, t: float, a: float) -> None:
    """Whatever the numbers (even inconsistent with the kind, or b == t), the rate is finite."""
    for base in (b, t):
        r = achievement_rate(kind, base, t, a)
        assert r is not None and math.isfinite(r)


@given(values, values, fys, st.integers(min_value=0, max_value=20), fys, fys)
def test_expected_value_is_the_straight_line(
    bv: float, tv: float, bfy: int, span: int, fy1: int, fy2: int
) -> None:
    b, t = KpiPoint(value=bv, fy=bfy), KpiPoint(value=tv, fy=min(bfy + span, 2100))
    if span:
        assert expected_value(b, t, b.fy) == bv
    assert expected_value(b, t, t.fy) == tv
    lo, hi = ordered((bv, tv))
    e1, e2 = expected_value(b, t, min(fy1, fy2)), expected_value(b, t, max(fy1, fy2))
    slack = 1e-6 * max(1.0, abs(lo), abs(hi))
    assert lo - slack <= e1 <= hi + slack
    assert (e1 <= e2 + slack) if tv >= bv else (e1 >= e2 - slack)  # moves one way, toward t


@st.composite
def definitions(draw: st.DrawFn) -> KpiDefinition:
    kind = draw(st.sampled_from(list(KpiKind)))
    bfy = draw(st.integers(min_value=2000, max_value=2030))
    tfy = bfy + draw(st.integers(min_value=0, max_value=10))
    if kind is KpiKind.milestone:
        bv, tv = draw(st.sampled_from([0.0, 1.0])), 1.0
    else:
        bv, tv = draw(values), draw(values)
        if kind is KpiKind.lower:
            bv, tv = max(bv, tv), min(bv, tv)
        elif kind in (KpiKind.higher, KpiKind.cumulative):
            bv, tv = min(bv, tv), max(bv, tv)
    start = bfy - 1 if kind is KpiKind.cumulative else None
    return KpiDefinition(
        id="k",
        name="k",
        perspective="network",
        field="a",
        kind=kind,
        targets=[
            KpiTarget(
                version=1,
                baseline=KpiPoint(value=bv, fy=bfy, from_fy=start),
                target=KpiPoint(value=tv, fy=tfy, from_fy=start),
            )
        ],
    )


@given(definitions(), values, st.integers(min_value=1995, max_value=2045), st.booleans())
def test_evaluation_is_consistent(k: KpiDefinition, a: float, fy: int, estimate: bool) -> None:
    e = evaluate(k, [KpiActual(kpi_id="k", value=a, fy=fy, estimate=estimate)], fy)
    assert e.achievement_rate is not None and e.grade == grade(e.achievement_rate)
    assert (e.status is KpiStatus.achieved) == (e.achievement_rate >= 100.0)
    assert e.estimate is estimate and e.target_version == 1
    assert evaluate(k, [], fy).status is KpiStatus.no_data


# --- grade bands: a partition of the whole line --------------------------------------------------

thresholds = st.lists(
    st.floats(min_value=-500, max_value=500, allow_nan=False), min_size=1, max_size=6, unique=True
)


def bands_from(edges: list[float]) -> GradeBands:
    names = "ABCDEFG"
    steps = sorted(edges, reverse=True)
    return GradeBands.from_thresholds(list(zip(names, steps, strict=False)), lowest=names[len(steps)])


def probe_rates(bands: GradeBands) -> list[float]:
    edges = [e for b in bands.bands for e in (b.min, b.max) if e is not None]
    near = [math.nextafter(e, d) for e in edges for d in (-math.inf, math.inf)]
    return [*edges, *near, -1e12, 0.0, 100.0, 1e12]


@given(thresholds, st.floats(allow_nan=False))
def test_bands_cover_every_rate_exactly_once(edges: list[float], rate: float) -> None:
    bands = bands_from(edges)
    for r in [rate, *probe_rates(bands)]:
        holders = [b.grade for b in bands.bands if b.contains(r)]
        assert len(holders) == 1, (r, holders)
        assert grade(r, bands) == holders[0]


@given(st.floats(allow_nan=False))
def test_default_bands_cover_every_rate_exactly_once(rate: float) -> None:
    for r in [rate, *probe_rates(DEFAULT_BANDS)]:
        assert sum(b.contains(r) for b in DEFAULT_BANDS.bands) == 1
    assert grade(rate) == ("A" if rate >= 86 else "B" if rate >= 71 else "C" if rate >= 56 else "D")


@given(thresholds.filter(lambda e: len(e) >= 2), st.data())
def test_moving_one_edge_makes_a_gap_or_overlap(edges: list[float], data: st.DataObject) -> None:
    valid = bands_from(edges).bands
    i = data.draw(st.integers(min_value=0, max_value=len(valid) - 2))  # a band with a finite min
    delta = data.draw(st.floats(min_value=-50, max_value=50, allow_nan=False).filter(lambda d: d != 0))
    band = valid[i]
    assert band.min is not None
    moved = band.min + delta
    assume(moved != band.min and (band.max is None or moved < band.max))
    broken = [*valid[:i], GradeBand(grade=band.grade, min=moved, max=band.max), *valid[i + 1 :]]
    with pytest.raises(ValidationError):
        GradeBands(bands=broken)
