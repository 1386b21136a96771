"""The national register from the MIC briefing (as of 2019-11-01), shipped as package data.

Coordinators start from what the ministry has published: which cities declared, which zones
formed, the stated national totals, and the KPI examples that show how zones write targets.
kenflow/register_extract.py builds kenflow/data/register.json from the seed text; this module
only types and reads it. Names are as the source prints them (one misprint, 熊代市, is kept and
explained in a note). A flag is None where the source does not settle it: a guessed flag would
be worse than an unknown one. Fiscal years are Gregorian start years (H26 = 2014, R元 = 2019).
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from .codes import PREFECTURES, MunicipalityCode

__all__ = [
    "FormationPoint",
    "KpiFieldCount",
    "KpiValue",
    "NationalFigures",
    "Register",
    "RegisterCity",
    "RegisterKpiExample",
    "RegisterZoneExample",
    "load_register",
]

PrefCode = str  # two digits, checked against PREFECTURES by Register


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterCity(_Frozen):
    """A city in one of the register's lists; the list says what the city is."""

    name: str = Field(min_length=1)
    prefecture: PrefCode = Field(pattern=r"^\d{2}$")
    code: MunicipalityCode | None = None
    core_city: bool | None = None  # 【 】 中核市
    core_city_eligible: bool | None = None  # 〈 〉 meets the core-city requirements
    multi_nature_only: bool | None = None  # （ ） meets only the 多自然拠点都市 requirements
    dual_centre_partner: str | None = None  # 複眼型: the other central city
    zone_formed: bool | None = None  # 協定締結又は形成方針策定済
    vision_drafted: bool | None = None  # 共生ビジョン策定済
    cross_prefecture: bool | None = None  # 県境型
    merged_single_city: bool | None = None  # 合併1市圏域
    declared_metropolitan: bool | None = None  # also a declared 連携中枢都市
    moved_to_metropolitan: bool | None = None  # bracketed on the map: zone moved to the metro programme
    multi_nature_hub: bool | None = None  # ※ 多自然居住拠点都市 on the map
    map_marks: str | None = None  # marks printed against the name on the map, as printed

    @property
    def prefecture_name(self) -> str:
        return PREFECTURES[self.prefecture]

    @property
    def dual_centre(self) -> bool:
        return self.dual_centre_partner is not None


class KpiValue(_Frozen):
    """One printed KPI figure: 484人（H26）, 10,458人（H30見込）, 未策定（H28）, 134人（H29-H30）."""

    printed: str
    value: int | float | None = None
    text: str | None = None  # a state instead of a number: 未策定, 策定済, 協働で実施
    fy: int | None = None  # the (last) fiscal year, Gregorian
    fy_from: int | None = None  # first fiscal year of a cumulative span
    estimate: bool = False  # 見込


class RegisterKpiExample(_Frozen):
    name: str
    project: str | None = None  # 事業名 or the panel's title
    field: str | None = None  # 分野 of the case study (医療, 福祉, …)
    unit: str | None = None
    baseline: KpiValue | None = None  # 基準値
    current: KpiValue | None = None  # 現状値
    target: KpiValue | None = None  # 目標値

    @property
    def qualitative(self) -> bool:
        """A KPI stated in words only (e.g. keep 365-day paediatric emergency care)."""
        return self.baseline is None and self.current is None and self.target is None


class RegisterZoneExample(_Frozen):
    name: str
    central_cities: list[str]  # as printed
    prefecture: PrefCode
    composition: str | None = None  # e.g. 1市4町
    members: list[str] = Field(default_factory=list)  # 連携団体 of the example, as printed
    first_vision_date: date | None = None  # 第１期ビジョン策定日
    kpis: list[RegisterKpiExample] = Field(default_factory=list)
    note: str | None = None


class KpiFieldCount(_Frozen):
    """Zones that set a KPI in one field (of the 112 zones with KPIs, end of February 2019)."""

    perspective: str
    letter: str
    field: str
    zones: int


class FormationPoint(_Frozen):
    label: str  # H21 … R元.11.1
    as_of: date
    declared: int
    zones_formed: int | None = None
    visions: int | None = None


class NationalFigures(_Frozen):
    as_of: date
    settlement_declared: int
    settlement_zones_formed: int
    settlement_municipalities: int
    settlement_visions: int
    settlement_vision_cities: int
    settlement_vision_zones: int
    settlement_formed_no_vision_cities: int
    settlement_formed_no_vision_zones: int
    settlement_declaration_only_cities: int
    cross_prefecture_zones: int
    dual_centre_zones: int
    merged_single_city_zones: int
    eligible_not_declared: int
    target_zones: int
    target_year: int
    pilot_cities: int
    pilot_zones: int
    kpi_survey_date: date
    kpi_survey_zones_with_vision: int
    kpi_survey_zones_with_kpis: int
    metropolitan_formed_as_of: date
    metropolitan_formed_cities: int
    metropolitan_formed_areas: int
    metropolitan_municipalities: int
    metropolitan_declared: int
    kpi_fields: list[KpiFieldCount]
    formation_chart: list[FormationPoint]


class Register(_Frozen):
    source: str
    as_of: date
    national: NationalFigures
    settlement_central_cities: list[RegisterCity]  # 宣言中心市
    eligible_cities: list[RegisterCity]  # meet the central-city requirements, not declared
    metropolitan_central_cities: list[RegisterCity]  # 宣言連携中枢都市
    zone_examples: list[RegisterZoneExample]
    notes: list[str] = Field(default_factory=list)

    def settlement_city(self, name: str) -> RegisterCity | None:
        return next((c for c in self.settlement_central_cities if c.name == name), None)

    def example(self, name: str) -> RegisterZoneExample | None:
        return next((z for z in self.zone_examples if z.name == name), None)

    def dual_centre_pairs(self) -> set[frozenset[str]]:
        return {
            frozenset((c.name, c.dual_centre_partner))
            for c in self.settlement_central_cities
            if c.dual_centre_partner
        }


@cache
def load_register() -> Register:
    """The register shipped in kenflow/data; read once per process."""
    data = resources.files("kenflow").joinpath("data").joinpath("register.json").read_text(encoding="utf-8")
    return Register.model_validate(json.loads(data))
