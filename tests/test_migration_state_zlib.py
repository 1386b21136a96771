"""Revision 0002 (the zone's state stored compressed) on a read model that holds a zone's life:
upgrading from 0001 keeps every row of every table and the state itself, downgrading gives back
the text 0001 stored, and a SQLite upgrade that fails leaves 0001 as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, select, text

from kenflow.db.engine import make_engine
from kenflow.db.migrate import alembic_config, current_revision, head_revision, upgrade
from kenflow.db.projection import project
from kenflow.db.tables import READ_MODEL_TABLES, ZoneRow
from models.read_rows import state_json, stored_state
from tests.db_scenario import Replay, kohoku


@pytest.fixture(scope="module")
def life() -> Replay:
    return kohoku(datetime(2025, 6, 1, 1, 0, tzinfo=UTC))


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model table but the zone's state column, in key order."""
    out = {}
    with engine.connect() as conn:
        for model in READ_MODEL_TABLES:
            t = model.__table__  # type: ignore[attr-defined]
            cols = [c for c in t.columns if not c.name.startswith("state_")]
            out[t.name] = [tuple(r) for r in conn.execute(select(*cols).order_by(*t.primary_key.columns))]
    return out


def _state_column(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        names = {c["name"] for c in inspect(conn).get_columns("zone")}
        (column,) = names & {"state_json", "state_zlib"}
        return {zone_id: value for zone_id, value in conn.execute(text(f"SELECT id, {column} FROM zone"))}


def _at_0001(url: str) -> None:
    """Down to 0001 the way an operator would (alembic's own engine)."""
    command.downgrade(alembic_config(url), "0001")


def test_state_survives_down_and_up(db_url: str, life: Replay) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        for p in life.projections:
            project(engine, p)
        zone_id = life.state.zone_id
        before = _rows(engine)
        assert all(before[t] for t in ("zone", "zone_member", "agreement", "vision", "kpi", "audit"))

        _at_0001(db_url)
        assert _state_column(engine) == {zone_id: state_json(life.state)}  # the text 0001 kept
        assert _rows(engine) == before

        upgrade(db_url)  # kenflow's own upgrade: its engine has foreign keys on
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        assert _rows(engine) == before  # no child row went with the rebuilt zone table
        (blob,) = _state_column(engine).values()
        assert stored_state(blob) == life.state.model_copy(update={"timeline": [], "notices": []})
    finally:
        engine.dispose()


def test_failed_sqlite_upgrade_leaves_0001_as_it_was(tmp_path, life: Replay) -> None:  # type: ignore[no-untyped-def]
    """A KPI row of a zone that is not there (foreign keys were off when it came) fails the check
    before the commit, and nothing of the upgrade stays: not the new column, not the revision."""
    url = f"sqlite:///{tmp_path / 'kenflow.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        for p in life.projections:
            project(engine, p)
        _at_0001(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.execute(
                text(
                    "UPDATE kpi SET zone_id = 'settlement-000000' WHERE kpi_id = (SELECT min(kpi_id) FROM kpi)"
                )
            )
            conn.commit()
        before = _rows(engine), _state_column(engine)

        with pytest.raises(RuntimeError, match="foreign keys"):
            upgrade(url)
        with engine.connect() as conn:
            assert current_revision(conn) == "0001"
        assert (_rows(engine), _state_column(engine)) == before
    finally:
        engine.dispose()


def test_state_column_is_compressed_json(engine: Engine, life: Replay) -> None:
    """What a reader that knows only SQL and zlib finds in the column."""
    import zlib

    for p in life.projections:
        project(engine, p)
    with engine.connect() as conn:
        blob = conn.execute(select(ZoneRow.state_zlib)).scalar_one()  # type: ignore[call-overload]
    assert zlib.decompress(blob).decode() == state_json(life.state)
