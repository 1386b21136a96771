"""KPIs (成果指標): definitions, yearly actuals and their evaluation.

The zone workflow stores KpiDefinition and KpiActual in its state; evaluation is a pure
function of them so CHECK, the CLI and national roll-ups all agree on the numbers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from .perspective import Perspective


class KpiKind(StrEnum):
    higher = "higher"  # higher is better
    lower = "lower"  # lower is better
    maintain = "maintain"  # keep a level
    milestone = "milestone"  # a state reached (未策定 → 策定済) or kept (体制を維持)
    cumulative = "cumulative"  # summed over a span of fiscal years


class KpiPoint(BaseModel):
    """A value at a fiscal year. Milestones use 0/1 (1 = reached/kept).

    `from_fy` is set for cumulative KPIs, whose figures cover from_fy..fy (H29–R3).
    """

    value: float
    fy: int = Field(ge=1989, le=2100)
    from_fy: int | None = Field(default=None, ge=1989, le=2100)
    label: str | None = Field(default=None, max_length=50)  # e.g. 未策定 / 策定済


class KpiTarget(BaseModel):
    """One version of a KPI's target. A revised target is a new version, never an overwrite."""

    version: int = Field(ge=1)
    baseline: KpiPoint
    target: KpiPoint
    set_on_fy: int | None = None
    reason: str | None = Field(default=None, max_length=2000)


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


class KpiActual(BaseModel):
    kpi_id: str
    value: float
    fy: int = Field(ge=1989, le=2100)
    from_fy: int | None = None
    estimate: bool = False  # 見込
    entered_by: str = ""
    entered_at: datetime | None = None
    label: str | None = None


class KpiStatus(StrEnum):
    achieved = "achieved"
    on_track = "on_track"
    behind = "behind"
    no_data = "no_data"


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
