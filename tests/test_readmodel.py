"""The read model on SQLite and PostgreSQL: what a projection writes, that it is idempotent and
ordered by version, that notices are never rolled back, the audit trail and the queries."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from activities.readmodel import ReadModelActivities
from kenflow.db import queries as Q
from kenflow.db.audit import record_refusal
from kenflow.db.projection import project
from kenflow.db.tables import (
    READ_MODEL_TABLES,
    AgreementRow,
    AuditRow,
    DeliveryAttemptRow,
    KpiEvaluationRow,
    KpiRow,
    NoticeRow,
    VisionRow,
    ZoneMemberRow,
    ZoneRow,
)
from models import acts as A
from models.actor import Actor, Role
from models.municipality import FormerCity
from models.notice import NoticeStatus
from models.programme import Programme
from models.projection import ProjectionInput
from models.read_rows import stored_state
from models.zone import Resolution
from tests.db_scenario import Replay, kohoku
from tests.factories import CROSS, HIKONE, NEIGHBOURS, actor_of, city, initiatives, start

T0 = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)


def _all(engine: Engine, model) -> list:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        pk = list(model.__table__.primary_key.columns)
        return list(s.scalars(select(model).order_by(*pk)))


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for model in READ_MODEL_TABLES:
            t = model.__table__
            out[t.name] = [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
    return out


def project_all(engine: Engine, inputs: list[ProjectionInput]) -> None:
    for p in inputs:
        project(engine, p)


@pytest.fixture(scope="module")
def life() -> Replay:
    return kohoku(T0)


# --------------------------------------------------------------------------- what gets written


def test_projection_writes_every_table(engine: Engine, life: Replay) -> None:
    project_all(engine, life.projections)
    state = life.state
    zid = state.zone_id
    with Session(engine) as s:
        z = s.get(ZoneRow, zid)
        assert z is not None
    assert (z.name, z.programme, z.phase) == ("湖東定住自立圏", "settlement", "pdca")
    assert z.id == "settlement-252026"
    assert (z.central_codes, z.prefecture_codes) == ("252026", ",21,25,")
    assert z.version == state.version == 23
    assert z.declared_on == date(2019, 4, 1) and z.formed_on == date(2019, 9, 20) and z.ended_on is None
    assert (z.vision_version, z.vision_status, z.vision_period_end_fy) == (1, "published", 2024)
    assert (z.current_fy, z.kpi_behind, z.notices_failed, z.single_city) == (2020, 1, 0, False)
    assert z.updated_at == state.timeline[-1].at and z.updated_at.tzinfo is not None
    # the row leaves out what other tables hold: the timeline (audit) and the copies (notice)
    assert stored_state(z.state_zlib) == state.model_copy(update={"timeline": [], "notices": []})
    detail = Q.get_zone(engine, zid, limit=None)
    assert detail is not None and detail.state.notices == sorted(
        state.notices, key=lambda n: (n.created_at, n.key)
    )

    members = _all(engine, ZoneMemberRow)
    assert [(m.municipality_code, m.role, m.agreement_status) for m in members] == sorted(
        [(HIKONE.code, "central", None)] + [(t.code, "neighbour", "concluded") for t in [*NEIGHBOURS, CROSS]]
    )
    assert {m.municipality_code: m.prefecture_code for m in members}[CROSS.code] == "21"

    agreements = _all(engine, AgreementRow)
    assert len(agreements) == 4 and all(
        a.status == "concluded" and a.hub_code == HIKONE.code for a in agreements
    )
    assert [a.neighbour_code for a in agreements if a.cross_prefecture] == [CROSS.code]

    (vision,) = _all(engine, VisionRow)
    assert (vision.version, vision.status, vision.published_on, vision.period_start_fy) == (
        1,
        "published",
        date(2020, 3, 1),
        2020,
    )

    kpis = {k.kpi_id: k for k in _all(engine, KpiRow)}
    assert set(kpis) == {"bus-riders", "sick-child-care"}
    sick = kpis["sick-child-care"]
    assert (
        sick.baseline_value,
        sick.baseline_fy,
        sick.target_value,
        sick.target_fy,
        sick.target_version,
    ) == (484, 2014, 600, 2019, 1)

    evals = {e.kpi_id: e for e in _all(engine, KpiEvaluationRow)}
    assert (evals["sick-child-care"].status, evals["sick-child-care"].grade, evals["sick-child-care"].fy) == (
        "behind",
        "D",
        2020,
    )
    assert evals["bus-riders"].status == "achieved" and evals["bus-riders"].actual == 12500
    assert evals["bus-riders"].achievement_rate == pytest.approx(118.2415, rel=1e-4)

    audit = _all(engine, AuditRow)
    assert [a.seq for a in audit] == list(range(1, len(state.timeline) + 1))
    assert all(a.result == "accepted" and a.zone_id == zid for a in audit)
    assert [(a.act, a.summary, a.at, a.on) for a in audit] == [
        (e.act, e.summary, e.at, e.on) for e in state.timeline
    ]

    notices = _all(engine, NoticeRow)
    assert {n.key for n in notices} == {n.key for n in state.notices}
    assert all(n.status == "pending" and n.attempts == 0 for n in notices)


def test_activity_method_projects(engine: Engine, life: Replay) -> None:
    import asyncio

    acts = ReadModelActivities(engine)
    assert acts.project(life.projections[0]) is True
    asyncio.run(acts.project_zone(life.projections[1]))
    with Session(engine) as s:
        assert s.get(ZoneRow, life.state.zone_id).version == life.projections[1].version  # type: ignore[union-attr]


# --------------------------------------------------------------------------- order and idempotency


def test_same_input_twice_leaves_the_same_rows(engine: Engine, life: Replay) -> None:
    project_all(engine, life.projections)
    once = snapshot(engine)
    project_all(engine, life.projections)
    assert snapshot(engine) == once
    project(engine, life.projections[-1])
    assert snapshot(engine) == once


def test_an_older_version_never_rolls_back(engine: Engine, life: Replay) -> None:
    v_last, v_before = life.projections[-1], life.projections[-2]
    assert project(engine, v_last) is True
    latest = snapshot(engine)
    assert project(engine, v_before) is False
    after = snapshot(engine)
    # everything but the audit trail is as v_last left it; the late entries are added to the audit
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in latest.items() if k != "audit"
    }
    seqs = sorted(a.seq for a in _all(engine, AuditRow))
    assert seqs == sorted(e.seq for e in [*v_last.timeline, *v_before.timeline])

    # the first projection (phase 'agreements', no members yet) arriving last changes no child rows
    assert project(engine, life.projections[0]) is False
    with Session(engine) as s:
        z = s.get(ZoneRow, life.state.zone_id)
        assert z is not None and z.phase == "pdca" and z.version == v_last.version
    assert len(_all(engine, ZoneMemberRow)) == 5


def test_projections_in_any_order_and_concurrently(engine: Engine, life: Replay) -> None:
    inputs = list(life.projections)
    random.Random(7).shuffle(inputs)
    with ThreadPoolExecutor(6) as pool:
        for f in [pool.submit(project, engine, p) for p in inputs]:
            f.result()
    shuffled = snapshot(engine)
    with Session(engine) as s:
        z = s.get(ZoneRow, life.state.zone_id)
        assert z is not None and z.version == life.state.version
    assert len(shuffled["audit"]) == len(life.state.timeline)
    project_all(engine, life.projections)
    in_order = snapshot(engine)
    strip = lambda snap: {k: v for k, v in snap.items() if k != "audit"}  # noqa: E731 - audit ids differ
    assert strip(in_order) == strip(shuffled)


def test_children_follow_the_state(engine: Engine) -> None:
    """A re-drafted agreement (abolished, then drafted again) and a new KPI target replace rows."""
    r = kohoku(T0)
    project_all(engine, r.projections)
    kpi = r.state.kpis["bus-riders"]
    r.state.kpis["bus-riders"] = kpi.model_copy(update={"name": "バス利用者数(改)"})
    r.state.version += 1
    project(engine, r.project())
    assert {k.kpi_id: k.name for k in _all(engine, KpiRow)}["bus-riders"] == "バス利用者数(改)"
    del r.state.agreements[CROSS.code]
    r.state.version += 1
    project(engine, r.project())
    assert CROSS.code not in {m.municipality_code for m in _all(engine, ZoneMemberRow)}
    assert len(_all(engine, AgreementRow)) == 3


# --------------------------------------------------------------------------- notices


def test_notices_are_inserted_once_and_never_rolled_back(engine: Engine, life: Replay) -> None:
    project_all(engine, life.projections)
    keys = sorted(n.key for n in life.state.notices)
    delivered, pending = keys[0], keys[1]
    at = datetime(2025, 6, 2, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            update(NoticeRow.__table__)
            .where(NoticeRow.__table__.c.key == delivered)
            .values(status="delivered", delivered_at=at, attempts=1)
        )
        conn.execute(
            DeliveryAttemptRow.__table__.insert().values(
                notice_key=delivered, at=at, channel="file", address="", outcome="delivered"
            )
        )
    project_all(engine, life.projections)  # the state still says pending for both
    rows = {n.key: n for n in _all(engine, NoticeRow)}
    assert (rows[delivered].status, rows[delivered].delivered_at, rows[delivered].attempts) == (
        "delivered",
        at,
        1,
    )
    assert rows[pending].status == "pending"
    assert [d.outcome for d in Q.notice_deliveries(engine, delivered)] == ["delivered"]

    # the workflow gives up on both: the pending row turns failed, the delivered one stays delivered
    for n in life.state.notices:
        if n.key in (delivered, pending):
            n.status, n.failure = NoticeStatus.failed, "550 mailbox unavailable"
    project(engine, ProjectionInput.of(life.state, []))
    rows = {n.key: n for n in _all(engine, NoticeRow)}
    assert rows[delivered].status == "delivered" and rows[delivered].failure is None
    assert (rows[pending].status, rows[pending].failure) == ("failed", "550 mailbox unavailable")
    with Session(engine) as s:
        z = s.get(ZoneRow, life.state.zone_id)
        assert z is not None and z.notices_failed == 2  # as the state counts them
        assert z.updated_at == life.state.timeline[-1].at  # no new act: time of the last act kept
    assert {k for k, n in rows.items() if n.status == "failed"} == {pending}
    assert len([n for n in rows.values() if n.zone_id == life.state.zone_id]) == len(keys)
    for n in life.state.notices:
        n.status, n.failure = NoticeStatus.pending, None


# --------------------------------------------------------------------------- audit


def test_refusals_are_audited(engine: Engine, life: Replay) -> None:
    project_all(engine, life.projections[:3])
    clerk = Actor(role=Role.municipality, code=CROSS.code, name=CROSS.name)
    act = A.RecordResolution(
        actor=clerk,
        neighbour_code=CROSS.code,
        resolution=Resolution(municipality_code=HIKONE.code, resolved_on=date(2019, 9, 1), number="1"),
    )
    rid = record_refusal(
        engine, life.state.zone_id, act, clerk, "議会の議決の登録は団体コード 252026 の団体のみが行えます"
    )
    record_refusal(engine, life.state.zone_id, "declare", clerk, "二度目")
    record_refusal(engine, "settlement-999999", "declare", clerk, "圏域が見つかりません")
    record_refusal(engine, None, "start_zone", clerk, "x" * 10_000)
    timeline = Q.zone_timeline(engine, life.state.zone_id)
    refused = [a for a in timeline if a.result == "refused"]
    assert [a.act for a in refused] == ["record_resolution", "declare"]
    assert refused[0].id == rid and refused[0].seq is None and refused[0].actor_code == CROSS.code
    accepted = Q.zone_timeline(engine, life.state.zone_id, include_refused=False)
    seqs = [e.seq for p in life.projections[:3] for e in p.timeline]
    assert [a.seq for a in accepted] == seqs == [1, 2, 3, 4]
    detail = Q.get_zone(engine, life.state.zone_id)
    assert detail is not None
    assert [e.seq for e in detail.state.timeline] == seqs and len(detail.timeline) == len(seqs) + 2
    assert [a.result for a in Q.recent_audit(engine, limit=2)] == ["refused", "refused"]


# --------------------------------------------------------------------------- queries


def test_zone_queries(engine: Engine, life: Replay) -> None:
    project_all(engine, life.projections)
    zid = life.state.zone_id
    detail = Q.get_zone(engine, zid)
    assert detail is not None
    assert detail.state.timeline == life.state.timeline
    oldest_first = sorted(life.state.notices, key=lambda n: (n.created_at, n.key))  # the notice table's
    assert detail.state.model_copy(update={"timeline": []}) == life.state.model_copy(
        update={"timeline": [], "notices": oldest_first}
    )
    assert Q.get_zone(engine, "settlement-000000") is None

    ids = lambda rows: [z.id for z in rows]  # noqa: E731
    assert ids(Q.list_zones(engine)) == [zid]
    assert ids(Q.list_zones(engine, prefecture="21")) == [zid]
    assert ids(Q.list_zones(engine, prefecture="滋賀県")) == [zid]
    assert ids(Q.list_zones(engine, prefecture="13")) == []
    assert ids(Q.list_zones(engine, phase="pdca", programme=Programme.settlement)) == [zid]
    assert ids(Q.list_zones(engine, phase="vision")) == []
    assert ids(Q.list_zones(engine, municipality_code=CROSS.code[:5])) == [zid]
    assert ids(Q.list_zones(engine, municipality_code="252034")) == []  # 長浜市: not a member
    [(z, m)] = Q.zones_of_municipality(engine, CROSS.code)
    assert (z.id, m.role, m.agreement_status) == (zid, "neighbour", "concluded")
    assert Q.zones_of_municipality(engine, "252034") == []

    assert len(Q.zone_members(engine, zid)) == 5 and len(Q.zone_agreements(engine, zid)) == 4
    assert [v.version for v in Q.zone_visions(engine, zid)] == [1]
    assert [k.kpi_id for k in Q.zone_kpis(engine, zid)] == ["sick-child-care", "bus-riders"]
    assert len(Q.kpi_evaluations(engine, zone_id=zid)) == 2
    assert len(Q.kpi_evaluations(engine, fy=2020)) == 2 and Q.kpi_evaluations(engine, fy=2019) == []
    assert Q.phase_counts(engine) == {("settlement", "pdca"): 1}


def _dual_centre_metropolitan(now: datetime) -> Replay:
    a, b = city("16202", "高岡市", population=170_000), city("16211", "射水市", population=92_000)
    return Replay.begin(
        start(
            [a, b],
            programme=Programme.metropolitan,
            declared_on=date(2019, 10, 1),
            name="とやま呉西圏域",
            override_reason="二市で連携中枢都市の要件を満たす",
        ),
        now,
    )


def _merged_single_city(now: datetime) -> Replay:
    yokote = city(
        "05203",
        "横手市",
        population=89_000,
        ratio=0.98,
        former_cities=[FormerCity(name="旧横手市", population=40_000, day_night_ratio=1.1)],
    )
    r = Replay.begin(
        start([yokote], declared_on=date(2009, 6, 1), name="横手市定住自立圏", single_city=True), now
    )
    r.act(
        A.AdoptPolicy(
            actor=actor_of(yokote),
            initiatives=initiatives(),
            resolution=Resolution(
                municipality_code=yokote.code, resolved_on=date(2009, 9, 30), number="議案第80号"
            ),
        )
    )
    return r


def test_national_stats(engine: Engine, life: Replay) -> None:
    project_all(engine, life.projections)
    project_all(engine, _dual_centre_metropolitan(T0).projections)
    project_all(engine, _merged_single_city(T0).projections)
    undeclared = Replay.begin(
        A.StartZone(
            programme=Programme.settlement,
            name="未宣言",
            central_cities=[city("01202", "函館市")],
            started_by=Actor(role=Role.ministry),
        ),
        T0,
    )
    project_all(engine, undeclared.projections)

    stats = Q.national_stats(engine)
    s, m = stats[Programme.settlement], stats[Programme.metropolitan]
    assert s.model_dump(exclude={"programme"}) == {
        "declared_central_cities": 2,
        "declared_zones": 2,
        "zones_formed": 2,
        "municipalities": 6,
        "zones_with_vision": 1,
        "zones_with_kpis": 1,
        "cross_prefecture": 1,
        "dual_centre": 0,
        "single_city": 1,
    }
    assert (m.declared_central_cities, m.declared_zones, m.zones_formed, m.municipalities) == (2, 1, 0, 0)
    before = Q.national_stats(engine, as_of=date(2010, 3, 31))[Programme.settlement]
    assert (before.declared_zones, before.zones_formed, before.single_city) == (1, 1, 1)

    # an ended zone counts nowhere
    with engine.begin() as conn:
        conn.execute(
            update(ZoneRow.__table__)
            .where(ZoneRow.__table__.c.id == life.state.zone_id)
            .values(ended_on=date(2025, 1, 1))
        )
    s = Q.national_stats(engine)[Programme.settlement]
    assert (s.declared_zones, s.zones_formed, s.municipalities, s.cross_prefecture) == (1, 1, 1, 0)
