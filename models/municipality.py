"""A municipality as the rules see it: code, kind and the figures eligibility needs."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from .codes import MunicipalityCode, prefecture_name


class MunicipalityKind(StrEnum):
    city = "city"  # 市
    town = "town"  # 町
    village = "village"  # 村
    special_ward = "special_ward"  # 特別区


class FormerCity(BaseModel):
    """A city that merged into this one; its day/night ratio can qualify a merged city."""

    name: str = Field(min_length=1, max_length=100)
    population: int | None = Field(default=None, ge=0)
    day_night_ratio: float | None = Field(default=None, ge=0, le=10)


class Municipality(BaseModel):
    code: MunicipalityCode
    name: str = Field(min_length=1, max_length=100)
    kind: MunicipalityKind = MunicipalityKind.city
    designated_city: bool = False  # 指定都市
    core_city: bool = False  # 中核市
    population: int | None = Field(default=None, ge=0)
    day_night_ratio: float | None = Field(default=None, ge=0, le=10)  # 昼夜間人口比率
    # share (%) of commuters and students going to the special wards or a designated city
    commute_share_to_metro: float | None = Field(default=None, ge=0, le=100)
    former_cities: list[FormerCity] = Field(default_factory=list, max_length=50)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def prefecture_code(self) -> str:
        return self.code[:2]

    @property
    def prefecture_name(self) -> str:
        return prefecture_name(self.prefecture_code)

    @property
    def merged(self) -> bool:
        return bool(self.former_cities)
