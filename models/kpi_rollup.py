"""National roll-ups of zones' KPIs, the way MIC reports them.

The ministry's table counts zones, not KPIs, per policy field ("医療 97, 福祉 88": zones that
set at least one KPI there), and asks how many KPIs are achieved, on track or behind. Both come
from the same evaluate() the zones see, so national figures never disagree with a zone's page.
Pure: the caller gathers (zone_id, definitions, actuals) from the read model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, computed_field

from .kpi import DEFAULT_BANDS, GradeBands, KpiActual, KpiDefinition, KpiStatus, evaluate
from .perspective import FIELDS, Perspective, field_label, policy_field_key

ZoneKpis = tuple[str, Sequence[KpiDefinition], Sequence[KpiActual]]
GroupBy = Literal["field", "zone", "all"]


class FieldZoneCount(BaseModel):
    """How many zones set at least one KPI in a policy field (設定圏域数)."""

    key: str  # living.a
    perspective: Perspective
    field: str
    label: str  # 医療
    zones: int
    kpis: int


class StatusShare(BaseModel):
    """KPI statuses in one group (a field, a zone or the nation) for one FY."""

    key: str
    label: str
    fy: int
    counts: dict[KpiStatus, int]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def shares(self) -> dict[KpiStatus, float]:
        """Percent of the group's KPIs in each status; 0 for an empty group."""
        n = self.total
        return {s: (self.counts.get(s, 0) / n * 100.0 if n else 0.0) for s in KpiStatus}


def _checked(zones: Iterable[ZoneKpis]) -> list[ZoneKpis]:
    out = list(zones)
    ids = [z[0] for z in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"圏域IDが重複しています (duplicate zone ids: {dupes})")
    return out


def zones_per_field(
    zones: Iterable[ZoneKpis], perspectives: Iterable[Perspective] | None = None
) -> list[FieldZoneCount]:
    """Every field of the given perspectives (default: all), in FIELDS order, zero counts kept."""
    zone_sets: dict[str, set[str]] = {}
    kpi_counts: dict[str, int] = {}
    for zone_id, kpis, _ in _checked(zones):
        for k in kpis:
            key = policy_field_key(k.perspective, k.field)
            zone_sets.setdefault(key, set()).add(zone_id)
            kpi_counts[key] = kpi_counts.get(key, 0) + 1
    wanted = list(perspectives) if perspectives is not None else list(FIELDS)
    return [
        FieldZoneCount(
            key=policy_field_key(p, f),
            perspective=p,
            field=f,
            label=label,
            zones=len(zone_sets.get(policy_field_key(p, f), ())),
            kpis=kpi_counts.get(policy_field_key(p, f), 0),
        )
        for p in wanted
        for f, label in FIELDS[p].items()
    ]


def status_shares(
    zones: Iterable[ZoneKpis], fy: int, by: GroupBy = "field", bands: GradeBands = DEFAULT_BANDS
) -> list[StatusShare]:
    """Status counts and shares per field, per zone, or nationally ("all"), for one FY.

    Only groups with at least one KPI appear; fields in FIELDS order, zones in input order.
    """
    groups: dict[str, StatusShare] = {}
    for zone_id, kpis, actuals in _checked(zones):
        actual_list = list(actuals)
        for k in kpis:
            status = evaluate(k, actual_list, fy, bands).status
            key, label = _group_of(by, zone_id, k)
            share = groups.setdefault(key, _empty(key, label, fy))
            share.counts[status] += 1
    result = [g for g in groups.values() if g.total]
    if by == "field":
        order = {policy_field_key(p, f): i for i, (p, f) in enumerate(_all_fields())}
        result.sort(key=lambda g: order[g.key])
    return result


def status_trend(
    zones: Iterable[ZoneKpis], fys: Iterable[int], by: GroupBy = "all", bands: GradeBands = DEFAULT_BANDS
) -> dict[str, list[StatusShare]]:
    """For each group, its StatusShare in each FY (ascending), to chart progress over years."""
    zone_list = _checked(zones)
    trend: dict[str, list[StatusShare]] = {}
    for fy in sorted(set(fys)):
        for share in status_shares(zone_list, fy, by, bands):
            trend.setdefault(share.key, []).append(share)
    return trend


def _empty(key: str, label: str, fy: int) -> StatusShare:
    return StatusShare(key=key, label=label, fy=fy, counts=dict.fromkeys(KpiStatus, 0))


def _group_of(by: GroupBy, zone_id: str, k: KpiDefinition) -> tuple[str, str]:
    if by == "field":
        return policy_field_key(k.perspective, k.field), field_label(k.perspective, k.field)
    if by == "zone":
        return zone_id, zone_id
    return "all", "全国"


def _all_fields() -> list[tuple[Perspective, str]]:
    return [(p, f) for p, fields in FIELDS.items() for f in fields]
