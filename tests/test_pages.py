"""The pages over HTTP, without a browser: login and sessions, who sees which page, forms that
work without JavaScript, htmx partials, and refusals shown next to the field and audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from kenflow.db.tables import AuditRow, NoticeRow
from tests import factories as f
from tests.web_fixtures import WebStack, jst_today

HUB, NB = f.HIKONE, f.NEIGHBOURS[0]


async def _zone_with_draft(web: WebStack) -> str:
    body = f.start(declared_on=jst_today()).model_dump(mode="json")
    body.pop("started_by")
    zid = (await web.http.post("/api/zones", json=body, headers=web.auth("ministry"))).json()["zone_id"]
    agreement = {
        "neighbour": NB.model_dump(mode="json"),
        "drafted_on": jst_today().isoformat(),
        "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
    }
    r = await web.http.post(f"/api/zones/{zid}/agreements", json=agreement, headers=web.as_municipality(HUB))
    assert r.status_code == 200, r.text
    return zid


async def _login(web: WebStack, role: str, code: str | None = None) -> str:
    web.http.cookies.clear()
    r = await web.http.post("/login", data={"token": web.token(role, code)})
    assert r.status_code == 303
    return r.headers["location"]


async def test_login_and_who_sees_what(web: WebStack) -> None:
    zid = await _zone_with_draft(web)
    r = await web.http.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    bad = await web.http.post("/login", data={"token": "kf_wrong"})
    assert bad.status_code == 401 and "トークンが正しくない" in bad.text

    assert await _login(web, "ministry") == "/"
    dash = await web.http.get("/", params={"programme": "settlement", "phase": "bogus"})
    assert dash.status_code == 200 and "湖東定住自立圏" in dash.text and "年度別の圏域形成数" in dash.text
    assert "協定締結" in dash.text
    page = await web.http.get(f"/zones/{zid}")
    assert page.status_code == 200 and "議決待ち" in page.text and "令和" in page.text
    assert (await web.http.get("/zones/new")).status_code == 200

    assert await _login(web, "prefecture", "13") == "/"
    assert "湖東定住自立圏" not in (await web.http.get("/")).text
    assert (await web.http.get(f"/zones/{zid}")).status_code == 403
    assert (await web.http.get("/zones/new")).status_code == 403

    r = await web.http.post("/login", data={"token": web.token("ministry"), "next": "//evil.example/x"})
    assert r.headers["location"] == "/"  # no open redirect after login
    assert await _login(web, "municipality", NB.code) == "/inbox"
    assert (await web.http.get("/")).headers["location"] == "/inbox"
    await web.http.post("/logout")
    assert (await web.http.get("/inbox")).status_code == 303


async def test_inbox_forms_with_and_without_htmx(web: WebStack) -> None:
    zid = await _zone_with_draft(web)
    await _login(web, "municipality", NB.code)
    inbox = await web.http.get("/inbox")
    assert "議会の議決" in inbox.text and "相手方: 彦根市" in inbox.text
    action = re.search(r'action="(/inbox/[^"]+/resolutions/[^"]+)"', inbox.text)
    assert action is not None
    url = action.group(1)

    # no JS: a future date is refused, shown next to the date field, with the page status 409
    future = (jst_today() + timedelta(days=3)).isoformat()
    r = await web.http.post(url, data={"resolved_on": future, "number": "議案第12号"})
    assert r.status_code == 409
    assert re.search(r'name="resolved_on"[^>]*>\s*<p class="field-error"[^>]*>[^<]*未来の日付', r.text)
    assert 'value="議案第12号"' in r.text  # what the clerk typed is kept
    # htmx: a blank number comes back as the card alone (200 so htmx swaps it)
    r = await web.http.post(
        url, data={"resolved_on": jst_today().isoformat(), "number": ""}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and r.text.lstrip().startswith("<section") and "入力してください" in r.text
    r = await web.http.post(
        url,
        data={"resolved_on": jst_today().isoformat(), "number": "議案第12号"},
        headers={"HX-Request": "true"},
    )
    assert "task done" in r.text and "愛荘町議会が彦根市との協定を議決" in r.text
    assert "対応を待っている事項はありません" in (await web.http.get("/inbox")).text

    # someone else's agreement: refused by the policy, on its own page
    await _login(web, "municipality", f.NEIGHBOURS[2].code)
    r = await web.http.post(url, data={"resolved_on": jst_today().isoformat(), "number": "1"})
    assert r.status_code == 403 and "構成市町村ではありません" in r.text
    with Session(web.engine) as s:
        refused = s.exec(select(AuditRow).where(AuditRow.result == "refused", AuditRow.zone_id == zid)).all()
    assert {(a.actor_code, a.act) for a in refused} >= {
        (NB.code, "record_resolution"),
        (f.NEIGHBOURS[2].code, "record_resolution"),
    }


async def test_start_zone_and_draft_agreement_pages(web: WebStack) -> None:
    await _login(web, "ministry")
    form = {
        "programme": "settlement",
        "name": "湖東定住自立圏",
        "code": "25202",
        "city": "彦根市",
        "population": "113679",
        "ratio": "1.06",
        "will": "中心的な役割を担う",
        "urban_functions": "病院・大学",
        "cooperation": "近隣町と連携",
        "declared_on": jst_today().isoformat(),
    }
    bad = await web.http.post("/zones/new", data={**form, "code": "252020"})
    assert bad.status_code == 422 and "検査数字" in bad.text
    weak = await web.http.post("/zones/new", data={**form, "population": "30000"})
    assert weak.status_code == 409 and "要件を満たしていません" in weak.text
    r = await web.http.post("/zones/new", data=form)
    assert r.status_code == 303 and r.headers["location"] == f"/zones/settlement-{HUB.code}"

    await _login(web, "municipality", HUB.code)
    zone_url = r.headers["location"]
    draft = {
        "neighbour_code": NB.code,
        "neighbour_name": "愛荘町",
        "neighbour_kind": "town",
        "initiative_living": "病児保育",
        "field_living": "a",
        "drafted_on": jst_today().isoformat(),
    }
    r = await web.http.post(f"{zone_url}/agreements", data=draft)
    assert r.status_code == 409 and "不足している視点" in r.text
    r = await web.http.post(
        f"{zone_url}/agreements",
        data={**draft, "initiative_network": "バス", "initiative_management": "研修"},
    )
    assert r.status_code == 303
    page = await web.http.get(zone_url)
    assert "愛荘町との定住自立圏形成協定の案を作成" in page.text  # the flash, then the timeline


def add_copies(engine: Engine, zone_id: str, n: int, recipient: Callable[[int], str]) -> None:
    """`n` delivered copies in the read model, 試験送付000 the oldest, all newer than the zone's
    own (a zone's page and notices list read only the read model)."""
    first = datetime.now(UTC) + timedelta(minutes=1)
    with Session(engine) as s:
        for i in range(n):
            s.add(
                NoticeRow(
                    key=f"{zone_id}/test-{i:03d}/v1/{recipient(i)}",
                    zone_id=zone_id,
                    document=f"test-{i:03d}",
                    version=1,
                    recipient=recipient(i),
                    kind="copy",
                    subject=f"試験送付{i:03d}",
                    body="本文",
                    created_at=first + timedelta(seconds=i),
                    status="delivered",
                )
            )
        s.commit()


def _notice_rows(page: str) -> list[str]:
    table = re.search(r'<table id="notices">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None
    return [r for r in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S) if "送付はありません" not in r]


async def test_the_zone_page_shows_a_reader_only_the_copies_the_api_shows_them(web: WebStack) -> None:
    """A prefecture or municipality sees the copies addressed to it, as GET /api/zones/{id}/notices
    answers; the ministry sees every copy."""
    zid = await _zone_with_draft(web)
    everyone = (await web.http.get(f"/api/zones/{zid}/notices", headers=web.auth("ministry"))).json()
    assert len({n["recipient"] for n in everyone}) >= 2  # copies to more than one recipient
    readers = [("ministry", None), ("prefecture", HUB.code[:2]), ("municipality", HUB.code)]
    for role, code in readers:
        api = (await web.http.get(f"/api/zones/{zid}/notices", headers=web.auth(role, code))).json()
        await _login(web, role, code)
        page = await web.http.get(f"/zones/{zid}")
        assert page.status_code == 200, (role, page.text[:300])
        rows = _notice_rows(page.text)
        assert len(rows) == len(api), (role, len(rows), len(api))
        for n in api:
            assert any(n["subject"] in r for r in rows), (role, n["subject"])
        if role != "ministry":
            assert len(rows) < len(everyone), role
    web.http.cookies.clear()


async def test_a_zone_with_many_copies_shows_the_newest_and_pages_through_the_rest(web: WebStack) -> None:
    """A zone sends copies for decades: its page lists the newest 50 the reader may see and
    links to the rest, 100 a page, newest first; a prefecture pages through its own only."""
    zid = await _zone_with_draft(web)
    add_copies(web.engine, zid, 160, lambda i: "mic" if i % 10 == 0 else f"pref:{HUB.code[:2]}")
    first = await web.http.get(f"/api/zones/{zid}/notices", headers=web.auth("ministry"))
    ministry_api = first.json()
    total = len(ministry_api)
    assert total >= 160 and first.headers["X-Total-Count"] == str(total) and "Link" not in first.headers

    # The API pages the same copies: follow rel="next" until it stops.
    url: str | None = f"/api/zones/{zid}/notices?limit=70"
    paged: list[dict[str, object]] = []
    while url is not None:
        got = await web.http.get(url, headers=web.auth("ministry"))
        assert got.status_code == 200 and got.headers["X-Total-Count"] == str(total)
        paged += got.json()
        link = re.fullmatch(r'<(.+)>; rel="next"', got.headers.get("Link", ""))
        url = link.group(1) if link else None
    assert [n["key"] for n in paged] == [n["key"] for n in ministry_api]
    for bad_query in ("limit=0", "limit=1001", "offset=-1", "limit=lots"):
        refused = await web.http.get(f"/api/zones/{zid}/notices?{bad_query}", headers=web.auth("ministry"))
        assert refused.status_code == 422, bad_query

    await _login(web, "ministry")
    page = (await web.http.get(f"/zones/{zid}")).text
    rows = _notice_rows(page)
    assert len(rows) == 50 and "試験送付159" in rows[0] and "試験送付110" in rows[-1]
    assert f"（{total}件）" in page and f'href="/zones/{zid}/notices?page=1"' in page
    seen: list[str] = []
    for n in range(1, 4):
        listing = await web.http.get(f"/zones/{zid}/notices", params={"page": n})
        assert listing.status_code == 200
        seen += [m for r in _notice_rows(listing.text) for m in re.findall(r"試験送付\d{3}", r)]
        assert ("以前の送付へ" in listing.text) == (n * 100 < total)
    assert seen == [f"試験送付{i:03d}" for i in range(159, -1, -1)]
    beyond = await web.http.get(f"/zones/{zid}/notices", params={"page": 9})
    assert beyond.status_code == 200 and "送付はありません" in beyond.text and "新しい送付へ" in beyond.text
    bad = await web.http.get(f"/zones/{zid}/notices", params={"page": "0"})
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]

    await _login(web, "prefecture", HUB.code[:2])
    mine = (
        await web.http.get(f"/api/zones/{zid}/notices", headers=web.auth("prefecture", HUB.code[:2]))
    ).json()
    listing = (await web.http.get(f"/zones/{zid}/notices", params={"page": 2})).text
    rows = _notice_rows(listing)
    assert len(rows) == len(mine) - 100 and all("総務省" not in r for r in rows)
    assert [re.findall(r"<td>(.*?)</td>", r)[0] for r in rows] == [n["subject"] for n in mine[100:]]
    web.http.cookies.clear()
