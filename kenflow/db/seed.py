"""Filling the municipality table: the seed's national register, and the figures CSV.

The register (models.register) names cities and their codes but carries no population or
ratios, so its rows are a starting point; a CSV import (municipality figures kept by clerks)
is the authority. Hence the one rule: the seed never overwrites a row that came from a CSV,
while a CSV always overwrites (the seed's rows and earlier imports alike).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from models.municipality import Municipality

from .dialect import insert_for
from .tables import MunicipalityRow

TABLE = MunicipalityRow.__table__  # type: ignore[attr-defined]
SEED_COLUMNS = ("name", "prefecture_code", "kind", "designated_city", "core_city")


def _designated(code: str) -> bool:
    """JIS X 0402: a third digit 1 is a designated city (or its ward; Tokyo's 1xx are special wards)."""
    return code[2] == "1" and code[:2] != "13"


def seed_rows() -> list[dict[str, Any]]:
    """The register's cities with a code, once each (a city may be on several lists)."""
    from models.register import load_register

    reg = load_register()
    rows: dict[str, dict[str, Any]] = {}
    for c in [*reg.settlement_central_cities, *reg.eligible_cities, *reg.metropolitan_central_cities]:
        if c.code is None:
            continue
        row = rows.setdefault(
            c.code,
            {
                "code": c.code,
                "name": c.name,
                "prefecture_code": c.code[:2],
                "kind": "city",
                "designated_city": _designated(c.code),
                "core_city": False,
                "population": None,
                "day_night_ratio": None,
                "commute_share_to_metro": None,
                "former_cities_json": "[]",
                "source": "seed",
            },
        )
        row["core_city"] = row["core_city"] or bool(c.core_city)
    return list(rows.values())


def load_seed(engine: Engine) -> int:
    """Upsert the register's cities as source='seed' rows; rows from a CSV are left alone.
    Returns the number of register cities offered (idempotent: safe at every start)."""
    rows = seed_rows()
    if not rows:
        return 0
    with engine.begin() as conn:
        stmt = insert_for(conn, TABLE)
        stmt = stmt.on_conflict_do_update(
            index_elements=[TABLE.c.code],
            set_={c: stmt.excluded[c] for c in SEED_COLUMNS},
            where=TABLE.c.source == "seed",
        )
        conn.execute(stmt, rows)
    return len(rows)


def municipality_row(m: Municipality, source: str = "csv") -> dict[str, Any]:
    return {
        "code": m.code,
        "name": m.name,
        "prefecture_code": m.prefecture_code,
        "kind": m.kind.value,
        "designated_city": m.designated_city,
        "core_city": m.core_city,
        "population": m.population,
        "day_night_ratio": m.day_night_ratio,
        "commute_share_to_metro": m.commute_share_to_metro,
        "former_cities_json": json.dumps([f.model_dump() for f in m.former_cities], ensure_ascii=False),
        "source": source,
    }


def import_municipalities(engine: Engine, rows: Iterable[Municipality]) -> int:
    """Upsert parsed CSV rows (models.municipality_csv) as source='csv', all in one transaction."""
    data = list({r["code"]: r for r in (municipality_row(m) for m in rows)}.values())
    if not data:
        return 0
    with engine.begin() as conn:
        stmt = insert_for(conn, TABLE)
        stmt = stmt.on_conflict_do_update(
            index_elements=[TABLE.c.code],
            set_={c: stmt.excluded[c] for c in data[0] if c != "code"},
        )
        conn.execute(stmt, data)
    return len(data)


def to_municipality(row: MunicipalityRow) -> Municipality:
    """A stored row back as the model the eligibility rules take."""
    return Municipality(
        code=row.code,
        name=row.name,
        kind=row.kind,
        designated_city=row.designated_city,  # type: ignore[arg-type]
        core_city=row.core_city,
        population=row.population,
        day_night_ratio=row.day_night_ratio,
        commute_share_to_metro=row.commute_share_to_metro,
        former_cities=json.loads(row.former_cities_json or "[]"),
    )
