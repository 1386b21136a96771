"""Grades (A–D) from an achievement rate, with configurable bands.

The default bands are A ≥ 86%, B 71–86%, C 56–71%, D < 56%; each band is half-open
[min, max) so 86.0 is an A and 85.99 a B. Rates can be negative (moving away from the
target) or above 100%, so the bands must cover the whole line: one band starts at −∞
(min None), one ends at +∞ (max None), and each band starts where the previous one ends.
Validation refuses overlaps and gaps, so every rate has exactly one grade.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field, model_validator


class GradeBand(BaseModel):
    grade: str = Field(min_length=1, max_length=10)
    min: float | None = None  # inclusive; None = −∞
    max: float | None = None  # exclusive; None = +∞

    def contains(self, rate: float) -> bool:
        return (self.min is None or rate >= self.min) and (self.max is None or rate < self.max)


def _default_bands() -> list[GradeBand]:
    return [
        GradeBand(grade="A", min=86.0),
        GradeBand(grade="B", min=71.0, max=86.0),
        GradeBand(grade="C", min=56.0, max=71.0),
        GradeBand(grade="D", max=56.0),
    ]


class GradeBands(BaseModel):
    bands: list[GradeBand] = Field(default_factory=_default_bands, min_length=1, max_length=26)

    @model_validator(mode="after")
    def _partition(self) -> GradeBands:
        """Sorted by lower bound, each band must begin exactly where the previous one ends."""
        names = [b.grade for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError(f"評価の記号が重複しています (duplicate grades: {names})")
        for b in self.bands:
            for edge in (b.min, b.max):
                if edge is not None and not math.isfinite(edge):
                    raise ValueError(
                        f"評価 {b.grade} の境界が数値ではありません (band {b.grade} edge must be finite)"
                    )
            if b.min is not None and b.max is not None and b.min >= b.max:
                raise ValueError(
                    f"評価 {b.grade} の下限 {b.min} が上限 {b.max} 以上です "
                    f"(band {b.grade} is empty or reversed)"
                )
        ordered = sorted(self.bands, key=lambda b: -math.inf if b.min is None else b.min)
        if ordered[0].min is not None:
            raise ValueError(
                f"{ordered[0].min}% 未満の達成率に評価がありません (no grade below {ordered[0].min}%: gap)"
            )
        if ordered[-1].max is not None:
            raise ValueError(
                f"{ordered[-1].max}% 以上の達成率に評価がありません "
                f"(no grade at or above {ordered[-1].max}%: gap)"
            )
        for lo, hi in zip(ordered, ordered[1:], strict=False):
            assert hi.min is not None
            if lo.max is None or lo.max > hi.min:
                raise ValueError(
                    f"評価 {lo.grade} と {hi.grade} の範囲が重なっています "
                    f"(bands {lo.grade} and {hi.grade} overlap)"
                )
            if lo.max < hi.min:
                raise ValueError(
                    f"評価 {lo.grade} と {hi.grade} の間 {lo.max}〜{hi.min}% に評価がありません "
                    f"(gap between bands {lo.grade} and {hi.grade})"
                )
        return self

    @classmethod
    def from_thresholds(cls, thresholds: list[tuple[str, float]], lowest: str) -> GradeBands:
        """[("A", 86), ("B", 71), ("C", 56)], lowest="D" → the default bands."""
        steps = sorted(thresholds, key=lambda g: -g[1])
        bands: list[GradeBand] = []
        upper: float | None = None
        for name, floor in steps:
            bands.append(GradeBand(grade=name, min=floor, max=upper))
            upper = floor
        bands.append(GradeBand(grade=lowest, max=upper))
        return cls(bands=bands)


DEFAULT_BANDS = GradeBands()


def grade(rate: float | None, bands: GradeBands = DEFAULT_BANDS) -> str | None:
    """The grade whose band holds the rate; None when there is no rate (no data)."""
    if rate is None or math.isnan(rate):
        return None
    for band in bands.bands:
        if band.contains(rate):
            return band.grade
    raise AssertionError("validated bands cover every rate")  # pragma: no cover
