"""The municipality table: the register's seed, CSV imports that win over it, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from typer.testing import CliRunner

import kenflow.cli.db  # noqa: F401  (registers `db` and `municipalities`)
from kenflow.cli import app
from kenflow.db.engine import make_engine
from kenflow.db.migrate import head_revision
from kenflow.db.queries import get_municipality, search_municipalities
from kenflow.db.seed import import_municipalities, load_seed, seed_rows, to_municipality
from kenflow.db.tables import MunicipalityRow
from kenflow.settings import get_settings
from models.municipality import FormerCity
from tests.factories import HIKONE, city

runner = CliRunner()
HEADER = "団体コード,名称,人口,昼夜間人口比率,中核市,旧市\n"


def _count(engine: Engine, source: str | None = None) -> int:
    stmt = select(func.count()).select_from(MunicipalityRow)
    if source:
        stmt = stmt.where(MunicipalityRow.source == source)
    with Session(engine) as s:
        return int(s.scalar(stmt) or 0)


def test_seed_loads_the_register_once(engine: Engine) -> None:
    n = load_seed(engine)
    assert n == len(seed_rows()) > 200  # 138 declared + 69 eligible + 35 metropolitan, less overlaps
    assert load_seed(engine) == n and _count(engine) == n == _count(engine, "seed")
    sapporo = get_municipality(engine, "01100")
    assert sapporo is not None and sapporo.name == "札幌市" and sapporo.designated_city
    hikone = get_municipality(engine, HIKONE.code)
    assert hikone is not None
    assert (hikone.name, hikone.prefecture_code, hikone.population) == ("彦根市", "25", None)
    assert [m.name for m in search_municipalities(engine, q="彦根")] == ["彦根市"]
    assert all(m.prefecture_code == "25" for m in search_municipalities(engine, prefecture="滋賀県"))
    assert [m.code for m in search_municipalities(engine, q="25202")] == [HIKONE.code]


def test_csv_rows_win_over_the_seed(engine: Engine) -> None:
    load_seed(engine)
    merged = city(
        "25202",
        "彦根市",
        population=113_679,
        ratio=1.06,
        core_city=False,
        former_cities=[FormerCity(name="旧彦根市", population=100_000, day_night_ratio=1.1)],
    )
    assert import_municipalities(engine, [merged, city("25425", "愛荘町", population=20_000)]) == 2
    load_seed(engine)  # must not overwrite the CSV's figures
    row = get_municipality(engine, HIKONE.code)
    assert row is not None and (row.source, row.population, row.day_night_ratio) == ("csv", 113_679, 1.06)
    assert json.loads(row.former_cities_json)[0]["name"] == "旧彦根市"
    assert to_municipality(row) == merged
    # a later import overwrites an earlier one
    import_municipalities(engine, [city("25202", "彦根市", population=110_000)])
    assert get_municipality(engine, "25202").population == 110_000  # type: ignore[union-attr]


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("KENFLOW_DATABASE_URL", db_url)
    monkeypatch.setenv("KENFLOW_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def test_cli_upgrade_import_list(cli_env: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"schema at {head_revision()}" in result.output

    good = tmp_path / "figures.csv"
    good.write_text(HEADER + '25202,彦根市,"113,679",1.06,0,\n25425,愛荘町,20000,0.85,0,\n', encoding="utf-8")
    result = runner.invoke(app, ["municipalities", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "2 件" in result.output

    result = runner.invoke(app, ["municipalities", "list", "--prefecture", "滋賀県", "--q", "彦根"])
    assert result.exit_code == 0, result.output
    assert "252026" in result.output and "113,679" in result.output and "csv" in result.output

    result = runner.invoke(app, ["municipalities", "list", "--prefecture", "火星"])
    assert result.exit_code == 2


def test_cli_bad_csv_writes_nothing(cli_env: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "25202,彦根市,113679,1.06,0,\n25203,長浜市,abc,1.0,0,\n99999,どこか,1,1,0,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["municipalities", "import", str(bad)])
    assert result.exit_code == 2
    assert "3行目" in result.output and "4行目" in result.output and "nothing written" in result.output
    eng = make_engine(cli_env)
    try:
        assert _count(eng, "csv") == 0
    finally:
        eng.dispose()
    missing = runner.invoke(app, ["municipalities", "import", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2
