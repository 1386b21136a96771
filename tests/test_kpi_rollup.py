"""National roll-ups: zones per policy field (the seed's table) and status shares over FYs."""

from __future__ import annotations

import pytest

from models.kpi import KpiActual, KpiDefinition, KpiKind, KpiPoint, KpiStatus, KpiTarget
from models.kpi_rollup import status_shares, status_trend, zones_per_field
from models.perspective import Perspective

# The seed's table (112 zones with KPIs, end of Feb 2019): ア 生活機能の強化 設定圏域数
SEED_LIVING = {"a": 97, "b": 88, "c": 86, "d": 11, "e": 101, "f": 76}
SEED_NETWORK = {"a": 97, "b": 30, "c": 66, "d": 32, "e": 83, "f": 39}
SEED_MANAGEMENT = {"a": 79, "b": 20, "c": 44, "d": 24}


def kpi(kid: str, perspective: str, field: str, b: float = 0, t: float = 100) -> KpiDefinition:
    return KpiDefinition(
        id=kid,
        name=kid,
        perspective=perspective,
        field=field,
        kind=KpiKind.higher,
        targets=[
            KpiTarget(version=1, baseline=KpiPoint(value=b, fy=2015), target=KpiPoint(value=t, fy=2020))
        ],
    )


def test_zones_per_field_reproduces_the_seed_table() -> None:
    zones = []
    for i in range(112):
        kpis = [
            kpi(f"{p}-{f}-{n}", p, f)
            for p, table in (
                ("living", SEED_LIVING),
                ("network", SEED_NETWORK),
                ("management", SEED_MANAGEMENT),
            )
            for f, count in table.items()
            if i < count
            for n in range(1 + i % 2)  # some zones set two KPIs in a field: still one zone
        ]
        zones.append((f"zone{i:03d}", kpis, []))
    counts = zones_per_field(zones, [Perspective.living, Perspective.network, Perspective.management])
    by_key = {c.key: c for c in counts}
    assert by_key["living.a"].label == "医療" and by_key["living.a"].zones == 97
    assert by_key["living.b"].label == "福祉" and by_key["living.b"].zones == 88
    assert {f: by_key[f"living.{f}"].zones for f in SEED_LIVING} == SEED_LIVING
    assert {f: by_key[f"network.{f}"].zones for f in SEED_NETWORK} == SEED_NETWORK
    assert {f: by_key[f"management.{f}"].zones for f in SEED_MANAGEMENT} == SEED_MANAGEMENT
    # 97 zones, of which 48 (odd i < 97) set two KPIs: 97 + 48 = 145 KPIs
    assert by_key["living.a"].kpis == 145
    assert [c.key for c in counts][:6] == [f"living.{f}" for f in "abcdef"]  # FIELDS order


def test_zero_fields_are_listed_and_perspectives_default_to_all() -> None:
    counts = zones_per_field([("z1", [kpi("k", "living", "a")], [])])
    keys = [c.key for c in counts]
    assert "growth.a" in keys and "services.c" in keys
    assert {c.key: c.zones for c in counts}["living.d"] == 0


def zones_with_statuses() -> list:
    # zone A: 医療 ×2, 福祉 ×1; zone B: 医療 ×1, 交通 ×1. Every KPI runs 0 (2015) → 100 (2020);
    # expected in 2017 = 0 + 100·2/5 = 40.
    a = [kpi("med1", "living", "a"), kpi("med2", "living", "a"), kpi("wel", "living", "b")]
    b = [kpi("med", "living", "a"), kpi("bus", "network", "a")]
    acts_a = [
        KpiActual(kpi_id="med1", value=100, fy=2017),  # achieved (rate 100)
        KpiActual(kpi_id="med2", value=30, fy=2017),  # behind (30 < 40)
        KpiActual(kpi_id="wel", value=50, fy=2017, estimate=True),  # on_track (50 ≥ 40)
        KpiActual(kpi_id="med1", value=100, fy=2018),
        KpiActual(kpi_id="med2", value=100, fy=2018),
    ]
    acts_b = [KpiActual(kpi_id="med", value=45, fy=2017)]  # on_track; bus: no_data
    return [("A", a, acts_a), ("B", b, acts_b)]


def test_status_shares_by_field_zone_and_nation() -> None:
    zones = zones_with_statuses()
    by_field = {s.key: s for s in status_shares(zones, 2017, by="field")}
    assert list(by_field) == ["living.a", "living.b", "network.a"]
    med = by_field["living.a"]
    assert med.label == "医療" and med.total == 3
    assert med.counts == {
        KpiStatus.achieved: 1,
        KpiStatus.on_track: 1,
        KpiStatus.behind: 1,
        KpiStatus.no_data: 0,
    }
    assert med.shares[KpiStatus.achieved] == pytest.approx(100 / 3)  # 1 of 3
    assert by_field["network.a"].shares[KpiStatus.no_data] == 100.0
    by_zone = {s.key: s for s in status_shares(zones, 2017, by="zone")}
    assert by_zone["A"].total == 3 and by_zone["B"].counts[KpiStatus.no_data] == 1
    (nation,) = status_shares(zones, 2017, by="all")
    # 5 KPIs: achieved 1, on_track 2, behind 1, no_data 1 → 20%, 40%, 20%, 20%
    assert nation.shares == {
        KpiStatus.achieved: 20.0,
        KpiStatus.on_track: 40.0,
        KpiStatus.behind: 20.0,
        KpiStatus.no_data: 20.0,
    }
    assert nation.model_dump()["total"] == 5  # computed fields are in the JSON for the UI


def test_status_trend_across_fiscal_years() -> None:
    trend = status_trend(zones_with_statuses(), [2018, 2017], by="all")
    fy17, fy18 = trend["all"]
    assert (fy17.fy, fy18.fy) == (2017, 2018)
    # 2018: med1, med2 achieved; wel, med, bus no data → 2/5 = 40% achieved, 60% no data
    assert fy18.shares[KpiStatus.achieved] == 40.0 and fy18.shares[KpiStatus.no_data] == 60.0
    assert fy17.shares[KpiStatus.achieved] == 20.0
    by_field = status_trend(zones_with_statuses(), [2017, 2018], by="field")
    assert [s.counts[KpiStatus.achieved] for s in by_field["living.a"]] == [1, 2]


def test_duplicate_zone_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        zones_per_field([("z", [], []), ("z", [], [])])
