"""GET /api/zones/{id} is rendered once per zone version and kind of reader
(kenflow/web/zone_read.py). What the web process keeps must never be staler than the read
model, never show one reader another's copies, and If-None-Match must get 304 only for the
body the reader would get now. The real app over httpx's ASGI transport, on SQLite and
PostgreSQL; the read model is written by the real projection."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, select, update

from kenflow.auth import issue_token
from kenflow.db.audit import record_refusal
from kenflow.db.projection import NOTICE, ZONE, project
from kenflow.settings import Settings
from kenflow.web.app import create_app
from kenflow.web.reads import own_recipient
from kenflow.web.zone_read import ZoneReads
from models.actor import Actor, Role
from models.fiscal import JST
from models.notice import NoticeStatus
from tests.db_scenario import Replay, kohoku
from tests.factories import CROSS, HIKONE, NEIGHBOURS

T0 = datetime(2025, 6, 1, 1, 0, tzinfo=UTC)
READERS = [
    ("ministry", None),
    ("prefecture", "25"),
    ("prefecture", "21"),
    ("municipality", HIKONE.code),
    *[("municipality", t.code) for t in [*NEIGHBOURS, CROSS]],
]


@pytest.fixture(scope="module")
def life() -> Replay:
    return kohoku(T0)


@pytest_asyncio.fixture
async def http(engine: Engine, tmp_path) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path, secret_key="t-" + uuid.uuid4().hex)
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://kenflow") as client:
        yield client


def auth(engine: Engine, role: str, code: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, role, code)}"}


def fresh(engine: Engine, zone_id: str, role: str, code: str | None) -> bytes:
    """The body rendered now with nothing kept: what every read must equal."""
    actor = Actor(role=Role(role), code=code, name="x")
    found = ZoneReads().read(engine, zone_id, actor, 50, datetime.now(JST).date())
    assert found is not None
    return found.body


async def test_every_read_shows_the_read_model_as_it_is_now(
    http: httpx.AsyncClient, engine: Engine, life: Replay
) -> None:
    """After each of the zone's projections, every kind of reader gets exactly the body a fresh
    render gives, twice in a row under one ETag, and the body moves with the zone's version.
    Whether a reader may read is decided per request on the facts of that version (関ケ原町's
    prefecture may read the zone once the town's agreement is drafted, not before)."""
    heads = {who: auth(engine, *who) for who in READERS}
    zid = life.state.zone_id
    etags: dict[tuple[str, str | None], list[str]] = {who: [] for who in READERS}
    for p in life.projections:
        project(engine, p)
        for who, headers in heads.items():
            first = await http.get(f"/api/zones/{zid}", headers=headers)
            again = await http.get(f"/api/zones/{zid}", headers=headers)
            assert first.status_code == again.status_code, first.text
            if first.status_code == 403:
                assert not etags[who], f"{who} could read this zone before"
                continue
            assert first.status_code == 200, first.text
            assert first.content == again.content == fresh(engine, zid, *who)
            assert first.headers["etag"] == again.headers["etag"]
            assert first.json()["zone"]["version"] == p.state.version
            etags[who].append(first.headers["etag"])
    assert len(etags[("prefecture", "21")]) < len(life.projections)
    for who in READERS:  # every act changed what each reader sees (its timeline at least)
        assert etags[who] and len(set(etags[who])) == len(etags[who]), who


async def test_readers_never_see_each_others_copies(
    http: httpx.AsyncClient, engine: Engine, life: Replay
) -> None:
    """Copies wait in the zone's state (none delivered in this replay): each prefecture and
    municipality sees only its own, the ministry all of them, though all read one version."""
    for p in life.projections:
        project(engine, p)
    zid = life.state.zone_id
    waiting = {n.recipient for n in life.projections[-1].state.notices}
    assert len(waiting) >= 2  # the case is only a test if there are copies for several readers
    seen: dict[tuple[str, str | None], set[str]] = {}
    for who in READERS:
        body = (await http.get(f"/api/zones/{zid}", headers=auth(engine, *who))).json()
        seen[who] = {n["recipient"] for n in body["state"]["notices"]}
        mine = own_recipient(Actor(role=Role(who[0]), code=who[1], name="x"))
        if mine is not None:
            assert seen[who] <= {mine}, who
    assert seen[("ministry", None)] == waiting
    assert sum(1 for who in READERS if seen[who]) >= 3


async def test_a_refusal_reaches_the_ministry_at_once(
    http: httpx.AsyncClient, engine: Engine, life: Replay
) -> None:
    """A refusal moves no version (the web layer records it); the ministry's next read shows
    it all the same, and a municipality, whose body does not change, keeps its 304."""
    project(engine, life.projections[0])
    zid = life.state.zone_id
    ministry, hub = auth(engine, "ministry", None), auth(engine, "municipality", HIKONE.code)
    m0 = await http.get(f"/api/zones/{zid}", headers=ministry)
    h0 = await http.get(f"/api/zones/{zid}", headers=hub)
    assert m0.json()["refusals"] == [] and "refusals" not in h0.json()

    clerk = Actor(role=Role.municipality, code=NEIGHBOURS[0].code, name="愛荘町")
    record_refusal(engine, zid, "record_resolution", clerk, "協定案がありません")
    m1 = await http.get(f"/api/zones/{zid}", headers={**ministry, "If-None-Match": m0.headers["etag"]})
    assert m1.status_code == 200
    assert [r["summary"] for r in m1.json()["refusals"]] == ["協定案がありません"]
    assert m1.headers["etag"] != m0.headers["etag"]
    h1 = await http.get(f"/api/zones/{zid}", headers={**hub, "If-None-Match": h0.headers["etag"]})
    assert h1.status_code == 304 and h1.content == b""
    assert h1.headers["etag"] == h0.headers["etag"]


async def test_if_none_match(http: httpx.AsyncClient, engine: Engine, life: Replay) -> None:
    """304 only for the current body's tag (weak or strong, or `*`), with the tag again."""
    project(engine, life.projections[0])
    zid, ministry = life.state.zone_id, auth(engine, "ministry", None)
    tag = (await http.get(f"/api/zones/{zid}", headers=ministry)).headers["etag"]
    for sent, status in [
        (tag, 304),
        (f'W/{tag}, "other"', 304),
        ("*", 304),
        ('"other"', 200),
        ("", 200),
    ]:
        resp = await http.get(f"/api/zones/{zid}", headers={**ministry, "If-None-Match": sent})
        assert resp.status_code == status, sent
        assert resp.headers["etag"] == tag
        assert resp.headers["cache-control"] == "private, no-cache"
    project(engine, life.projections[1])
    resp = await http.get(f"/api/zones/{zid}", headers={**ministry, "If-None-Match": tag})
    assert resp.status_code == 200 and resp.headers["etag"] != tag
    missing = await http.get("/api/zones/settlement-999999", headers={**ministry, "If-None-Match": "*"})
    assert missing.status_code == 404


async def test_a_change_that_moves_no_version_is_shown(
    http: httpx.AsyncClient, engine: Engine, life: Replay
) -> None:
    """A delivery that settles changes the zone's state (a copy fails, or leaves it delivered)
    and the zone projects it under the same version: the next read must show it."""
    last = life.projections[-1]
    project(engine, last)
    zid, ministry = life.state.zone_id, auth(engine, "ministry", None)
    before = await http.get(f"/api/zones/{zid}", headers=ministry)
    assert before.json()["zone"]["notices_failed"] == 0

    settled = last.model_copy(deep=True)
    failed = settled.state.notices[0]
    failed.status, failed.failure = NoticeStatus.failed, "宛先のメールサーバーが応答しません"
    settled.state.notices = [failed]  # the rest were delivered
    settled.timeline = []
    assert settled.state.version == last.state.version
    project(engine, settled)
    sender_records(engine, [n.key for n in last.state.notices[1:]], NoticeStatus.delivered)

    after = await http.get(f"/api/zones/{zid}", headers={**ministry, "If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    body = after.json()
    assert body["zone"]["notices_failed"] == 1 and body["zone"]["version"] == last.state.version
    assert [(n["key"], n["status"]) for n in body["state"]["notices"]] == [(failed.key, "failed")]
    assert any("送付失敗" in o["what"] for o in body["overdue"])
    assert after.content == fresh(engine, zid, "ministry", None)


def sender_records(engine: Engine, keys: list[str], status: NoticeStatus) -> None:
    """What the sender (activities/delivery.py) records of an attempt: the copies' new status."""
    with engine.begin() as conn:
        conn.execute(update(NOTICE).where(NOTICE.c.key.in_(keys)).values(status=status.value))


async def test_copies_come_from_the_notice_table(
    http: httpx.AsyncClient, engine: Engine, life: Replay
) -> None:
    """The zone row's state leaves its copies out (they were most of a forming zone's state);
    a read lists the zone's notice rows not yet delivered, so a delivery the sender records
    shows at the next read, before the zone projects again, and a kept body is not reused."""
    last = life.projections[-1]
    project(engine, last)
    zid, ministry = life.state.zone_id, auth(engine, "ministry", None)
    with engine.connect() as conn:
        stored = json.loads(zlib.decompress(conn.execute(select(ZONE.c.state_zlib)).scalar_one()))
    assert "notices" not in stored and "timeline" not in stored
    keys = [n.key for n in sorted(last.state.notices, key=lambda n: (n.created_at, n.key))]
    assert len(keys) >= 2
    before = await http.get(f"/api/zones/{zid}", headers=ministry)
    assert [n["key"] for n in before.json()["state"]["notices"]] == keys  # oldest first

    sender_records(engine, keys[:1], NoticeStatus.delivered)
    after = await http.get(f"/api/zones/{zid}", headers={**ministry, "If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert [n["key"] for n in after.json()["state"]["notices"]] == keys[1:]
    assert after.content == fresh(engine, zid, "ministry", None)

    sender_records(engine, keys[1:2], NoticeStatus.failed)  # the zone has not projected it yet
    failed = (await http.get(f"/api/zones/{zid}", headers=ministry)).json()["state"]["notices"]
    assert [(n["key"], n["status"]) for n in failed[:1]] == [(keys[1], "failed")]
