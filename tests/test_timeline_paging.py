"""A zone's timeline grows for decades, so its API and page show the newest entries and page
back. 湖東 with 130 entries (its formation, then plans revised again and again), projected into
the web stack's read model as the workflow projects them; then read over HTTP as the ministry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from kenflow.db.projection import project
from models import acts as A
from tests.db_scenario import kohoku
from tests.factories import HIKONE, actor_of
from tests.web_fixtures import WebStack

ENTRIES = 130


def long_zone(engine: Engine) -> str:
    life = kohoku(datetime(2025, 6, 1, 1, 0, tzinfo=UTC))
    hub = actor_of(HIKONE)
    life.act(A.ReviewFiscalYear(actor=hub, fy=2021))
    while len(life.state.timeline) < ENTRIES:
        life.act(A.RecordPlan(actor=hub, fy=2021, plan=f"計画 第{len(life.state.timeline)}版"))
    for p in life.projections:
        project(engine, p)
    return life.state.zone_id


async def get(web: WebStack, url: str, **kw: Any) -> Any:
    resp = await web.http.get(url, headers=web.auth("ministry"), **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_the_api_shows_the_newest_entries_and_pages_back_to_the_first(web: WebStack) -> None:
    zid = long_zone(web.engine)
    z = await get(web, f"/api/zones/{zid}")
    assert z["timeline_total"] == ENTRIES
    assert [e["seq"] for e in z["timeline"]] == list(range(ENTRIES - 49, ENTRIES + 1))  # newest 50
    assert z["timeline_older"] == f"/api/zones/{zid}/timeline?before={ENTRIES - 49}&limit=50"
    assert z["refusals"] == []

    z = await get(web, f"/api/zones/{zid}", params={"timeline_limit": 7})
    seqs, older = [e["seq"] for e in z["timeline"]], z["timeline_older"]
    pages = 1
    while older:
        page = await get(web, older)
        assert 0 < len(page["entries"]) <= 7
        seqs = [e["seq"] for e in page["entries"]] + seqs
        older, pages = page["older"], pages + 1
    assert seqs == list(range(1, ENTRIES + 1)) and pages == -(-ENTRIES // 7)
    assert page["entries"][0]["act"] == "start"  # the zone's first entry, where paging ends

    whole = await get(web, f"/api/zones/{zid}", params={"timeline_limit": 500})
    assert len(whole["timeline"]) == ENTRIES and whole["timeline_older"] is None


def test_the_newest_of_each_kind_come_oldest_first(engine: Engine) -> None:
    """On SQLite and PostgreSQL: the newest `limit` accepted entries (by seq) and the newest
    `limit` refusals, merged oldest first; the accepted total is the newest seq."""
    from datetime import timedelta

    from sqlmodel import Session

    from kenflow.db import queries as Q
    from kenflow.db.tables import AuditRow

    zid = long_zone(engine)
    t0 = datetime(2025, 6, 1, 3, 0, tzinfo=UTC)
    with Session(engine) as s:
        for i in range(7):
            s.add(
                AuditRow(
                    zone_id=zid,
                    at=t0 + timedelta(minutes=i),
                    act="record_plan",
                    actor_role="municipality",
                    summary=f"拒否 {i}",
                    result="refused",
                )
            )
        s.commit()
    rows = Q.zone_timeline(engine, zid, limit=5)
    assert [a.seq for a in rows if a.result == "accepted"] == list(range(ENTRIES - 4, ENTRIES + 1))
    assert [a.summary for a in rows if a.result == "refused"] == [f"拒否 {i}" for i in range(2, 7)]
    assert [a.at for a in rows] == sorted(a.at for a in rows)
    few = Q.zone_timeline(engine, zid, limit=100)  # 137 rows, under 2 × 100: read in one go
    assert [a.seq for a in few if a.result == "accepted"] == list(range(ENTRIES - 99, ENTRIES + 1))
    assert len([a for a in few if a.result == "refused"]) == 7
    assert [a.seq for a in Q.zone_timeline(engine, zid, include_refused=False, limit=3)] == [128, 129, 130]
    detail = Q.get_zone(engine, zid)
    assert detail is not None and detail.accepted == ENTRIES and len(detail.timeline) == 50 + 7
    assert len(Q.zone_timeline(engine, zid)) == ENTRIES + 7  # no limit: all of them


async def test_bad_paging_parameters_are_refused_clearly(web: WebStack) -> None:
    zid = long_zone(web.engine)
    ministry = web.auth("ministry")
    for url, params in [
        (f"/api/zones/{zid}", {"timeline_limit": 0}),
        (f"/api/zones/{zid}", {"timeline_limit": 501}),
        (f"/api/zones/{zid}/timeline", {"limit": "abc"}),
        (f"/api/zones/{zid}/timeline", {"before": 0}),
        # beyond what a database INTEGER holds: SQLite raised OverflowError, answered 503
        (f"/api/zones/{zid}/timeline", {"before": 2**63}),
        (f"/api/zones/{zid}/timeline", {"before": 2**31}),
        (f"/api/zones/{zid}/notices", {"offset": 2**63}),
    ]:
        resp = await web.http.get(url, params=params, headers=ministry)
        assert resp.status_code == 422, (url, params, resp.text)
        assert resp.json()["detail"], resp.text
    missing = await web.http.get("/api/zones/settlement-999999/timeline", headers=ministry)
    assert missing.status_code == 404 and "見つかりません" in missing.text
    other = await web.http.get(f"/api/zones/{zid}/timeline", headers=web.auth("prefecture", "13"))
    assert other.status_code == 403


async def test_the_page_shows_the_newest_entries_and_htmx_brings_the_older_ones(web: WebStack) -> None:
    zid = long_zone(web.engine)
    r = await web.http.post("/login", data={"token": web.token("ministry")})
    assert r.status_code == 303
    page = await web.http.get(f"/zones/{zid}")
    assert page.status_code == 200 and f"（{ENTRIES}件）" in page.text
    timeline = page.text.split('id="timeline"')[1].split("</ul>")[0]
    assert timeline.count("<li>") == 50 and timeline.count("PLAN(計画)を登録") == 50
    more = re.search(r'hx-get="([^"]+)"', timeline)
    assert more and more.group(1) == f"/zones/{zid}/timeline?before={ENTRIES - 49}"

    older = await web.http.get(more.group(1), headers={"HX-Request": "true"})
    assert older.status_code == 200 and "<html" not in older.text  # list items to swap in
    assert older.text.count("<li>") == 50 and "以前の経過を表示" in older.text
    first = await web.http.get(f"/zones/{zid}/timeline?before={ENTRIES - 99}", headers={"HX-Request": "true"})
    assert first.text.count("<li>") == ENTRIES - 100 and "以前の経過を表示" not in first.text

    plain = await web.http.get(more.group(1))  # without JavaScript: a page of its own
    assert plain.status_code == 200 and "<html" in plain.text and f'href="/zones/{zid}"' in plain.text
    bad = await web.http.get(f"/zones/{zid}/timeline?before=x")
    assert bad.status_code == 422 and "<html" in bad.text and "整数で入力してください" in bad.text
    huge = await web.http.get(f"/zones/{zid}/timeline?before={2**63}")
    assert huge.status_code == 422 and "<html" in huge.text
