"""A whole zone lifecycle through HTTP alone, with each actor's own token: the ministry starts
湖東定住自立圏, 彦根市 drafts an agreement, both councils resolve, the vision goes through the
council, the consultation and publication, and one PDCA turn runs with KPI figures entered by
form and by sheet. Every read after an act sees it at once (the read model is projected before
the Update returns). Then the edges: 401, 403, 404, 409, 413, 422 and 503, never a 500."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from sqlmodel import Session, select

from kenflow.db.tables import AuditRow
from models.era import format_fiscal_year
from models.fiscal import fiscal_year_of
from tests import factories as f
from tests.web_fixtures import WebStack, jst_today

HUB, NB = f.HIKONE, f.NEIGHBOURS[0]


def start_body(**kw: Any) -> dict[str, Any]:
    body = f.start(declared_on=jst_today(), **kw).model_dump(mode="json")
    body.pop("started_by")
    return body


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


async def zone(web: WebStack, zone_id: str, headers: dict[str, str]) -> dict[str, Any]:
    resp = await web.http.get(f"/api/zones/{zone_id}", headers=headers)
    assert resp.headers["server-timing"].startswith("app;dur=")  # kenflow's own time on it
    return await ok(resp)


async def test_whole_lifecycle_over_http(web: WebStack) -> None:
    today, http = jst_today(), web.http
    fy = fiscal_year_of(today)
    ministry, hub, nb = web.auth("ministry"), web.as_municipality(HUB), web.as_municipality(NB)
    pref = web.auth("prefecture", "25")

    created = await ok(await http.post("/api/zones", json=start_body(), headers=ministry), 201)
    zid = created["zone_id"]
    assert zid == f"settlement-{HUB.code}" and created["projected"]
    z = await zone(web, zid, hub)
    assert z["zone"]["phase"] == "agreements" and z["zone"]["phase_ja"] == "協定締結"
    assert z["zone"]["declared_on_ja"].startswith("令和")

    agreement = {
        "neighbour": NB.model_dump(mode="json"),
        "drafted_on": today.isoformat(),
        "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
    }
    await ok(await http.post(f"/api/zones/{zid}/agreements", json=agreement, headers=hub))
    # the neighbour, with only a drafted agreement, records its own council's resolution
    res = {"resolved_on": today.isoformat(), "number": "議案第12号"}
    await ok(await http.post(f"/api/zones/{zid}/agreements/{NB.code}/resolutions", json=res, headers=nb))
    z = await zone(web, zid, ministry)
    assert z["state"]["agreements"][NB.code]["status"] == "drafted"  # visible at once
    result = await ok(
        await http.post(
            f"/api/zones/{zid}/agreements/{NB.code[:5]}/resolutions",
            json={**res, "number": "議第30号"},
            headers=hub,
        )
    )
    assert "協定締結" in result["summary"]
    z = await zone(web, zid, pref)
    assert z["state"]["agreements"][NB.code]["status"] == "concluded" and z["zone"]["phase"] == "vision"
    assert [e["act"] for e in z["timeline"]][-2:] == ["record_resolution", "record_resolution"]
    assert z["timeline"][-1]["on_ja"].startswith("令和")

    draft = f.vision_draft(HUB, today, fy).model_dump(mode="json", exclude={"actor"})
    draft["period_start_fy"] = format_fiscal_year(fy)  # 令和N年度, as a clerk types it
    await ok(await http.post(f"/api/zones/{zid}/vision", json=draft, headers=hub))
    review = f.council_review(HUB, today).review.model_dump(mode="json")
    await ok(await http.post(f"/api/zones/{zid}/vision/council-reviews", json=review, headers=hub))
    answer = {"answer": "agree", "answered_on": today.isoformat()}
    await ok(await http.post(f"/api/zones/{zid}/vision/consultations/{NB.code}", json=answer, headers=nb))
    await ok(
        await http.post(
            f"/api/zones/{zid}/vision/publication", json={"published_on": today.isoformat()}, headers=hub
        )
    )
    z = await zone(web, zid, hub)
    assert z["zone"]["phase"] == "pdca" and z["state"]["visions"][-1]["period_start_fy"] == fy

    fy_text = format_fiscal_year(fy, style="short")  # R7
    await ok(await http.post(f"/api/zones/{zid}/fiscal-years/{fy_text}/review", headers=ministry))
    await ok(
        await http.post(
            f"/api/zones/{zid}/fiscal-years/{fy}/plan", json={"plan": "病児保育を拡充"}, headers=hub
        )
    )
    await ok(
        await http.post(
            f"/api/zones/{zid}/fiscal-years/{fy}/projects",
            json={"projects": [{"initiative": "病児保育", "status": "実施中"}]},
            headers=nb,
        )
    )
    await ok(
        await http.post(
            f"/api/zones/{zid}/kpis/sick-child-care/actuals",
            json={"fy": format_fiscal_year(fy), "value": "555"},
            headers=nb,
        )
    )

    # a sheet with one bad row changes nothing and lists every bad row
    before = (await zone(web, zid, hub))["zone"]["version"]
    bad = "指標ID,年度,実績値\nbus-riders,R1,10458\nno-such-kpi,R1,1\nbus-riders,令和99年度,3\n"
    resp = await http.post(
        f"/api/zones/{zid}/kpis/actuals:bulk",
        headers=nb,
        files={"file": ("kpi.csv", bad.encode(), "text/csv")},
    )
    assert resp.status_code == 422, resp.text
    assert sorted(e["row"] for e in resp.json()["errors"]) == [3, 4]
    assert (await zone(web, zid, hub))["zone"]["version"] == before
    good = f"指標ID,年度,実績値,見込\nbus-riders,{fy_text},10458,見込\nsick-child-care,R1,560,\n"
    result = await ok(
        await http.post(
            f"/api/zones/{zid}/kpis/actuals:bulk",
            headers=nb,
            files={"file": ("kpi.csv", good.encode("cp932"), "text/csv")},
        )
    )
    assert result["version"] == before + 1 and "2件" in result["summary"]

    await ok(
        await http.post(
            f"/api/zones/{zid}/fiscal-years/{fy}/check", json={"checked_on": today.isoformat()}, headers=hub
        )
    )
    kpis = await ok(await http.get(f"/api/zones/{zid}/kpis", headers=pref))
    by_id = {k["kpi"]["id"]: k for k in kpis}
    assert by_id["sick-child-care"]["evaluations"][0]["status"] == "behind"  # 555 of 484 → 600
    assert by_id["bus-riders"]["evaluations"][0]["estimate"] is True
    csv = await http.get(f"/api/zones/{zid}/kpis?format=csv", headers=hub)
    assert csv.status_code == 200 and "病児・病後児保育の利用者数" in csv.content.decode("utf-8-sig")
    xlsx = await http.get(f"/api/zones/{zid}/kpis", params={"format": "xlsx"}, headers=hub)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.cell(1, 1).value == "圏域ID"
    await ok(
        await http.post(
            f"/api/zones/{zid}/fiscal-years/{fy}/action",
            json={"reviewed_on": today.isoformat(), "results": "概ね順調"},
            headers=hub,
        )
    )

    notices = await ok(await http.get(f"/api/zones/{zid}/notices", headers=ministry))
    assert {"declaration", f"agreement:{NB.code}", "vision"} <= {n["document"] for n in notices}
    mine = await ok(await http.get("/api/notices", headers=pref))
    assert mine and all(n["recipient"] == "pref:25" for n in mine)
    stats = await ok(await http.get("/api/stats", headers=ministry))
    settlement = stats["programmes"]["settlement"]
    assert settlement["zones_formed"] == 1 and settlement["zones_with_vision"] == 1
    assert settlement["municipalities"] == 2 and settlement["phases"]["pdca"] == 1
    rollup = await ok(await http.get("/api/stats/kpis", params={"fy": fy_text}, headers=ministry))
    assert rollup["zones"] == 1 and rollup["fiscal_year"] == fy
    assert {c["label"]: c["zones"] for c in rollup["zones_per_field"]} == {"医療": 1, "地域公共交通": 1}
    living = next(s for s in rollup["by_field"] if s["key"] == "living.a")
    assert living["counts"]["behind"] == 1
    bad_fy = await http.get("/api/stats/kpis", params={"fy": "令和99年度"}, headers=ministry)
    assert bad_fy.status_code == 422 and "30" in bad_fy.json()["detail"]
    listed = await ok(
        await http.get("/api/zones", params={"prefecture": "滋賀県", "phase": "pdca"}, headers=ministry)
    )
    assert [z["id"] for z in listed] == [zid]


async def test_refusals_answer_and_are_audited(web: WebStack) -> None:
    today, http = jst_today(), web.http
    ministry, hub, nb = web.auth("ministry"), web.as_municipality(HUB), web.as_municipality(NB)
    zid = (await ok(await http.post("/api/zones", json=start_body(), headers=ministry), 201))["zone_id"]
    # 409: the rules refuse, with the clerk's message
    dup = await http.post("/api/zones", json=start_body(), headers=ministry)
    assert dup.status_code == 409 and "既に開始" in dup.json()["detail"]
    agreement = {
        "neighbour": NB.model_dump(mode="json"),
        "drafted_on": today.isoformat(),
        "initiatives": [i.model_dump(mode="json") for i in f.initiatives()[:1]],
    }
    r = await http.post(f"/api/zones/{zid}/agreements", json=agreement, headers=hub)
    assert r.status_code == 409 and "不足している視点" in r.json()["detail"]
    # 403: not its zone / not as itself
    r = await http.post(
        f"/api/zones/{zid}/vision/publication", json={"published_on": today.isoformat()}, headers=nb
    )
    assert r.status_code == 403
    r = await http.post("/api/zones", json=start_body(), headers=hub)
    assert r.status_code == 403
    # 401, 404, 422
    r = await http.get(f"/api/zones/{zid}")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (await http.get(f"/api/zones/{zid}", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await http.get("/api/zones/settlement-999997", headers=ministry)).status_code == 404
    r = await http.post(
        f"/api/zones/{zid}/agreements/99999/resolutions",
        headers=hub,
        json={"resolved_on": "2020-01-01", "number": "1"},
    )
    assert r.status_code == 422 and "団体コード" in r.json()["detail"]
    r = await http.post(f"/api/zones/{zid}/fiscal-years/M3/check", headers=hub, json={"checked_on": "x"})
    assert r.status_code == 422
    r = await http.post(f"/api/zones/{zid}/vision/publication", json={"published_on": "昨日"}, headers=hub)
    assert r.status_code == 422 and "published_on" in r.json()["message"]
    with Session(web.engine) as s:
        refused = s.exec(select(AuditRow).where(AuditRow.result == "refused")).all()
    acts = [a.act for a in refused]
    assert {"start_zone", "draft_agreement", "publish_vision", "get_zone", "record_resolution"} <= set(acts)
    assert any(a.actor_code == NB.code and a.act == "publish_vision" for a in refused)


async def test_body_caps_and_temporal_down(web: WebStack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hub = web.as_municipality(HUB)
    huge = {
        "title": "ビジョン",
        "future_image": "あ" * (10 * 1024 * 1024),
        "initiatives": [],
        "period_start_fy": 2020,
        "drafted_on": "2020-01-01",
    }
    r = await web.http.post("/api/zones/settlement-252026/vision", json=huge, headers=hub)
    assert r.status_code == 413 and "大きすぎ" in r.json()["detail"]

    # an app whose Temporal is gone answers reads from the read model and acts with 503
    from kenflow.web.app import create_app
    from tests.delivery_fixtures import free_port

    down = web.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    app = create_app(down, engine=web.engine)
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        ministry = web.auth("ministry")
        r = await http.post("/api/zones", json=start_body(), headers=ministry)
        assert r.status_code == 503 and "Temporal" in r.json()["detail"]
        assert (await http.get("/api/zones", headers=ministry)).status_code == 200
        assert (await http.get("/api/health")).json()["status"] == "ok"
