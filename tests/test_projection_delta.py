"""Delta projections: after its first projection a zone sends only the KPI actuals and yearly
reviews that changed, and the read model puts the whole state back together. On SQLite and
PostgreSQL with models.projection.SentSections as the workflow uses it, then end to end on the
time-skipping server with the read model's base taken away between two acts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select
from temporalio.testing import WorkflowEnvironment

from kenflow.db.projection import project
from kenflow.db.tables import AuditRow, KpiEvaluationRow, ZoneRow
from models import acts as A
from models import read_rows
from models.fiscal import fiscal_year_of
from models.projection import BaseMissing, ProjectionInput, SentSections
from models.zone import ZoneState
from tests import zone_kit as K
from tests.db_scenario import Replay, kohoku
from tests.factories import HIKONE, actor_of
from tests.zone_kit import Kit, ReadModel, actor

T0 = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)


def two_years() -> Replay:
    """湖東 through FY2020's CHECK, then FY2021 up to its CHECK: two yearly reviews."""
    life = kohoku(T0)
    hub = actor_of(HIKONE)
    life.act(A.ReviewFiscalYear(actor=hub, fy=2021))
    life.act(A.RecordPlan(actor=hub, fy=2021, plan="バス路線を再編する"))
    life.act(
        A.RecordKpiActuals(
            actor=hub,
            actuals=[
                A.ActualEntry(kpi_id="sick-child-care", fy=2021, value=530),
                A.ActualEntry(kpi_id="bus-riders", fy=2021, value=12100),
            ],
        )
    )
    life.act(A.CompleteCheck(actor=hub, fy=2021, checked_on=date(2025, 6, 1)))
    return life


def kept(state: ZoneState) -> ZoneState:
    """What the zone row keeps of `state`: not its copies (the notice table has them)."""
    return state.model_copy(update={"notices": []})


def stored_state(engine: Engine, zone_id: str) -> ZoneState:
    with engine.connect() as conn:
        blob = conn.execute(select(ZoneRow.state_zlib).where(ZoneRow.id == zone_id)).scalar_one()  # type: ignore[arg-type]
    return read_rows.stored_state(blob)


def send(engine: Engine, sent: SentSections, p: ProjectionInput) -> ProjectionInput:
    """What the workflow does for one projection: build the delta, write it, remember it."""
    inp, after = sent.delta(p.state, p.timeline)
    project(engine, inp)
    sent.sent(after)
    return inp


def test_every_delta_leaves_the_whole_state_in_the_read_model(engine: Engine) -> None:
    life = two_years()
    sent = SentSections()
    inputs = []
    for p in life.projections:
        inputs.append(send(engine, sent, p))
        assert stored_state(engine, p.zone_id) == kept(p.state)  # the state at that step, timeline aside
    assert inputs[0].kept is None  # the first projection is whole
    assert all(i.kept is not None for i in inputs[1:])
    last = inputs[-1]
    assert last.kept is not None
    # FY2021's CHECK: FY2020's review and actuals stay where they are; FY2021's travel
    assert last.kept.reviews == [2020] and list(last.state.reviews) == [2021]
    assert last.kept.actuals == 4 and last.state.actuals == []
    assert len(last.model_dump_json()) < len(ProjectionInput.of(life.state, []).model_dump_json())
    with engine.connect() as conn:
        evaluated = conn.execute(select(KpiEvaluationRow.fy).order_by(KpiEvaluationRow.fy)).scalars().all()
        audit = conn.execute(select(AuditRow.seq)).scalars().all()
    assert sorted(set(evaluated)) == [2020, 2021]  # both years' grades, though only one was sent
    assert len(audit) == len(life.state.timeline)


def test_a_read_model_without_the_base_is_refused_and_the_whole_state_fills_it(engine: Engine) -> None:
    life = two_years()
    sent = SentSections()
    *before, last = life.projections
    for p in before:
        send(engine, sent, p)
    with engine.begin() as conn:  # e.g. a read model rebuilt from an older backup
        conn.execute(delete(ZoneRow))
    inp, after = sent.delta(last.state, last.timeline)
    with pytest.raises(BaseMissing):
        project(engine, inp)
    assert stored_state_missing(engine)
    sent.forget()
    inp, after = sent.delta(last.state, last.timeline)
    assert inp.kept is None
    project(engine, inp)
    sent.sent(after)
    assert stored_state(engine, last.zone_id) == kept(last.state)


def stored_state_missing(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(ZoneRow.id)).first() is None


def test_a_delta_sent_twice_changes_nothing_the_second_time(engine: Engine) -> None:
    life = two_years()
    sent = SentSections()
    *before, last = life.projections
    for p in before:
        send(engine, sent, p)
    inp, _ = sent.delta(last.state, last.timeline)
    assert project(engine, inp) is True
    once = stored_state(engine, last.zone_id)
    assert project(engine, inp) is False  # a retry after its commit: already there
    assert stored_state(engine, last.zone_id) == once == kept(last.state)


def test_an_actual_changed_in_place_sends_every_actual_again(engine: Engine) -> None:
    life = two_years()
    sent = SentSections()
    for p in life.projections:
        send(engine, sent, p)
    final = life.projections[-1]
    edited = final.state.model_copy(deep=True)
    edited.actuals[0].value += 1
    edited.version += 1
    inp, after = sent.delta(edited, [])
    assert inp.kept is not None and inp.kept.actuals == 0 and len(inp.state.actuals) == 4
    project(engine, inp)
    sent.sent(after)
    assert stored_state(engine, final.zone_id) == kept(edited)


CHILD_TABLES = ("zone_members", "agreements", "visions", "kpis", "kpi_evaluations")


def child_tables(engine: Engine, zone_id: str) -> dict[str, list[tuple]]:
    from kenflow.db.projection import CHILDREN

    out = {}
    with engine.connect() as conn:
        for name, table in CHILDREN.items():
            cols = [c for c in table.columns if c.name != "id"]
            rows = conn.execute(select(*cols).where(table.c.zone_id == zone_id)).all()
            out[name] = sorted(tuple(r) for r in rows)
    return out


def test_child_tables_after_every_act_match_a_read_model_written_from_scratch(
    engine: Engine, tmp_path: Path
) -> None:
    """Child tables are rewritten only where their sections' digest changed: after every act
    they hold what a fresh read model given the whole state holds, and an act that touches
    none of them costs the read model three statements (read and lock, zone row, audit row),
    and one more while it has notices not yet delivered."""
    from sqlalchemy import event

    from kenflow.db.engine import make_engine
    from kenflow.db.migrate import upgrade

    life = two_years()
    sent = SentSections()
    statements: list[list[str]] = []
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0]))
    for n, p in enumerate(life.projections):
        seen.clear()
        send(engine, sent, p)
        statements.append(list(seen))
        fresh_url = f"sqlite:///{tmp_path}/fresh{n}.db"
        upgrade(fresh_url)
        fresh = make_engine(fresh_url)
        project(fresh, ProjectionInput.of(p.state, p.timeline))
        assert child_tables(engine, p.zone_id) == child_tables(fresh, p.zone_id), p.timeline[-1].act
        fresh.dispose()
    lock = "UPDATE" if engine.dialect.name == "sqlite" else "SELECT"
    plans = [
        (s, p)
        for s, p in zip(statements, life.projections, strict=True)
        if p.timeline[-1].act == "record_plan"
    ]
    assert plans
    for s, p in plans:  # the last INSERT: notices not delivered yet (this replay delivers none)
        assert s == [lock, "INSERT", "INSERT"] + ["INSERT"] * bool(p.state.notices), s


# --------------------------------------------------------------------------- end to end


@pytest.fixture
def kit(skip_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[Kit]:
    kit = Kit.of(skip_env, ReadModel.create(tmp_path))
    yield kit
    kit.rm.engine.dispose()


async def test_a_zone_resends_its_whole_state_when_the_read_model_lost_the_base(kit: Kit) -> None:
    async with kit.running():
        today = await kit.today()
        fy = fiscal_year_of(today)
        zone = await kit.start(K.past_zone(today))
        me = actor(HIKONE)
        await zone.act(A.ReviewFiscalYear(actor=me, fy=fy - 1))
        await zone.act(K.actuals(fy - 1, {"bus-riders": 9_500, "sick-child-care": 490}, me))
        with kit.rm.engine.begin() as conn:
            conn.execute(delete(ZoneRow))
        await zone.act(A.RecordPlan(actor=me, fy=fy - 1, plan="計画"))  # answered, not lost
        await zone.act(A.CompleteCheck(actor=me, fy=fy - 1, checked_on=today))
        state = await zone.state()
        history = await zone.history()
    assert stored_state(kit.rm.engine, zone.zone_id) == kept(state.model_copy(update={"timeline": []}))
    failures = [  # projections run as local activities: a failed one is a marker with its failure
        e.marker_recorded_event_attributes.failure.application_failure_info.type
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.HasField("failure")
    ]
    assert failures == ["ProjectionBaseMissing"]  # once, then the whole state went
    assert [e.act for e in state.timeline][-2:] == ["record_plan", "complete_check"]
    assert [e.act for e in zone.audit()][-2:] == ["record_plan", "complete_check"]
