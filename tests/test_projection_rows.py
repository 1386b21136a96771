"""Zones build their read model's rows themselves (models/read_rows.py, PROJECTION_ROWS_PATCH in
workflows/zone.py). After every act of a zone's life, a read model written from those rows, sent
through the payload converter as the worker receives them, holds exactly what one written from
the whole state holds, on SQLite and PostgreSQL, with no more statements; child tables left out
that the read model does not hold are refused (BaseMissing), and an older version changes
nothing. End to end, every zone test on a Temporal server now goes this way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from temporalio.contrib.pydantic import pydantic_data_converter

from kenflow.db.engine import make_engine
from kenflow.db.migrate import upgrade
from kenflow.db.projection import AUDIT, CHILDREN, NOTICE, ZONE, project, project_rows
from models.notice import NoticeStatus
from models.projection import BaseMissing
from models.read_rows import ProjectionRows, Row, notice_statuses, projection_rows
from tests.test_projection_delta import two_years


def received(rows: ProjectionRows) -> ProjectionRows:
    """The rows as the activity gets them: JSON and back (dates travel as text)."""
    pc = pydantic_data_converter.payload_converter
    return pc.from_payloads(pc.to_payloads([rows]), [ProjectionRows])[0]  # type: ignore[no-any-return]


def everything(engine: Engine, zone_id: str) -> dict[str, Any]:
    tables = {"zone": ZONE, "audit": AUDIT, "notice": NOTICE} | dict(CHILDREN)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        for name, table in tables.items():
            key = table.c.id if name == "zone" else table.c.zone_id
            cols = [c for c in table.columns if not (c.name == "id" and name != "zone")]
            out[name] = sorted(tuple(r) for r in conn.execute(select(*cols).where(key == zone_id)).all())
    return out


def fresh(tmp_path: Path, name: str) -> Engine:
    url = f"sqlite:///{tmp_path}/{name}.db"
    upgrade(url)
    return make_engine(url)


@pytest.mark.parametrize("by", ["rows", "digests"])
def test_rows_write_what_the_whole_state_writes(engine: Engine, tmp_path: Path, by: str) -> None:
    """`by`: the zone keeps the rows it sent and compares them (as workflows/zone.py does), or
    only their digests (and hashes every table on every act)."""
    life = two_years()
    reference = fresh(tmp_path, "reference")
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    sent: dict[str, str] | None = None
    sent_notices: dict[str, str] | None = None
    sent_rows: dict[str, list[Row]] | None = None
    plans, copies = 0, 0
    for p in life.projections:
        rows = projection_rows(p.state, p.timeline, sent, sent_notices, sent_rows if by == "rows" else None)
        by_digest = projection_rows(p.state, p.timeline, sent, sent_notices)
        assert (rows.digests, rows.children) == (by_digest.digests, by_digest.children)
        copies += len(rows.notices)
        seen.clear()
        assert project_rows(engine, received(rows)) is True
        statements = [sql.split()[0] for sql in seen]
        if rows.children:
            # the lock reads the version and digests, not the state (MBs for a bulk-fed zone)
            assert "state_zlib" not in seen[0] and "digest" in seen[0], seen[0]
        project(reference, p)
        assert everything(engine, p.zone_id) == everything(reference, p.zone_id), p.timeline[-1].act
        if p.timeline[-1].act == "record_plan":  # touches no child table: zone row, audit row
            assert rows.children == {}
            assert statements == ["UPDATE", "INSERT"] + ["INSERT"] * bool(rows.notices), statements
            assert seen[0].startswith("UPDATE zone SET"), seen[0]
            plans += 1
        sent, sent_notices = rows.digests, notice_statuses(p.state)
        sent_rows = (sent_rows or {}) | rows.children
    assert plans and everything(engine, life.state.zone_id)["kpi_evaluation"]  # both were covered
    # None of this life's copies is delivered: each went to the read model once, not with every act
    assert copies == len({n.key for n in life.state.notices}) > 0
    reference.dispose()


def test_rows_left_out_that_the_read_model_lacks_are_refused(engine: Engine) -> None:
    life = two_years()
    last, before = life.projections[-1], life.projections[-2]
    sent = projection_rows(before.state, [], None).digests
    partial = projection_rows(last.state, last.timeline, sent)
    assert set(partial.children) < set(sent)  # some child tables were left out
    with pytest.raises(BaseMissing, match="rows the zone last sent"):
        project_rows(engine, received(partial))
    assert everything(engine, last.zone_id)["zone"] == []  # nothing of it was written
    whole = projection_rows(last.state, last.timeline, None)
    assert project_rows(engine, received(whole)) is True
    assert everything(engine, last.zone_id)["zone"][0][0] == last.zone_id


def test_rows_without_children_write_only_over_the_digests_they_were_built_on(engine: Engine) -> None:
    """The zone row alone is written only where the read model holds an older version with the
    digests the zone last sent; otherwise the general rules apply, in the same transaction."""
    life = two_years()
    last, before = life.projections[-1], life.projections[-2]
    alone = projection_rows(last.state, last.timeline, projection_rows(last.state, [], None).digests)
    assert alone.children == {}
    with pytest.raises(BaseMissing):  # no zone yet: it is not created without its child rows
        project_rows(engine, received(alone))
    assert everything(engine, last.zone_id)["zone"] == []
    assert project_rows(engine, received(projection_rows(before.state, before.timeline, None))) is True
    with engine.begin() as conn:
        conn.execute(text("UPDATE zone SET digest = '{}' WHERE id = :z"), {"z": last.zone_id})
    with pytest.raises(BaseMissing):  # the read model lost what the zone believes it holds
        project_rows(engine, received(alone))
    assert project_rows(engine, received(projection_rows(last.state, last.timeline, None))) is True
    kept = everything(engine, last.zone_id)
    stale = projection_rows(before.state, [], projection_rows(before.state, [], None).digests)
    assert stale.children == {} and project_rows(engine, received(stale)) is False  # older: nothing
    assert project_rows(engine, received(alone)) is True and everything(engine, last.zone_id) == kept


def test_an_older_version_changes_nothing_but_adds_its_audit_rows(engine: Engine) -> None:
    life = two_years()
    last, older = life.projections[-1], life.projections[-3]
    assert project_rows(engine, received(projection_rows(last.state, last.timeline, None))) is True
    state_before = everything(engine, last.zone_id)
    assert project_rows(engine, received(projection_rows(older.state, older.timeline, None))) is False
    after = everything(engine, last.zone_id)
    assert after["zone"] == state_before["zone"] and after["kpi_evaluation"] == state_before["kpi_evaluation"]
    assert len(after["audit"]) == len(state_before["audit"]) + len(older.timeline)


def test_a_copy_is_sent_again_only_when_its_status_changes() -> None:
    """NOTICES_ONCE_PATCH: a pending copy already sent stays out of the next rows; one that
    failed since goes again (the read model shows failures); a new one goes; a delivered one
    never (the delivery recorded it)."""
    state = two_years().state
    first, second = state.notices[0], state.notices[1]
    sent = notice_statuses(state)
    assert projection_rows(state, [], None, sent).notices == []
    first.status = NoticeStatus.failed
    second.status = NoticeStatus.delivered
    keys = [r["key"] for r in projection_rows(state, [], None, sent).notices]
    assert keys == [first.key]
    assert second.key not in notice_statuses(state)
    everything_again = projection_rows(state, [], None, None).notices  # a run's first projection
    assert {r["key"] for r in everything_again} == set(notice_statuses(state))
