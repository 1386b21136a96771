"""The authorization matrix: every role × every act, over HTTP against the real stack.

One zone (湖東) is set up once: 愛荘町 has a concluded agreement (a live neighbour), 豊郷町 only a
drafted one, 甲良町 none (an outsider). Each act's body is built so that the rules refuse it
(a date tomorrow, a step not reached yet): an allowed actor therefore gets the workflow's 409
(or 422 for the bulk sheet), a forbidden one the policy's 403, and the zone never changes, so
the cases are independent of their order. Every refusal must leave an audit row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, func, select

from kenflow.db.tables import AuditRow
from kenflow.policy import ACTS, ZoneFacts, may_act, may_read_zone
from models.actor import Actor, Role
from models.fiscal import fiscal_year_of
from tests import factories as f
from tests.web_fixtures import WebStack, jst_today

HUB = f.HIKONE
LIVE, DRAFTED, OUTSIDER = f.NEIGHBOURS
ZONE = f"settlement-{HUB.code}"

ROLES: dict[str, tuple[str, str | None]] = {
    "ministry": ("ministry", None),
    "prefecture": ("prefecture", "25"),
    "other_prefecture": ("prefecture", "13"),
    "central": ("municipality", HUB.code),
    "live_neighbour": ("municipality", LIVE.code),
    "drafted_neighbour": ("municipality", DRAFTED.code),
    "outsider": ("municipality", OUTSIDER.code),
}
MUNICIPAL = {"central", "live_neighbour", "drafted_neighbour", "outsider"}


def tomorrow() -> str:
    return (jst_today() + timedelta(days=1)).isoformat()


def own(role: str, default: str) -> str | None:
    code = ROLES[role][1]
    return code if role in MUNICIPAL else default


Request = tuple[str, str, dict[str, Any] | None]  # method, path, json
Builder = Callable[[str], Request]


def _declaration() -> dict[str, Any]:
    return {"declaration": f.declaration(jst_today() - timedelta(days=1)).model_dump(mode="json")}


def _resolution(role: str) -> Request:
    body: dict[str, Any] = {"resolved_on": tomorrow(), "number": "第1号"}
    if role not in MUNICIPAL:
        body["municipality_code"] = DRAFTED.code
    return "POST", f"/api/zones/{ZONE}/agreements/{DRAFTED.code}/resolutions", body


def _abolition(role: str) -> Request:
    body: dict[str, Any] = {"resolved_on": tomorrow(), "number": "第2号", "notified_on": tomorrow()}
    if role not in MUNICIPAL:
        body["by"] = LIVE.code
    return "POST", f"/api/zones/{ZONE}/agreements/{LIVE.code}/abolition", body


def _vision(role: str) -> Request:
    body = f.vision_draft(HUB, jst_today() + timedelta(days=1), fiscal_year_of(jst_today()))
    return "POST", f"/api/zones/{ZONE}/vision", body.model_dump(mode="json", exclude={"actor"})


FY = fiscal_year_of(jst_today())
ACT_REQUESTS: dict[str, Builder] = {
    "start_zone": lambda r: ("POST", "/api/zones", _start_body()),
    "declare": lambda r: ("POST", f"/api/zones/{ZONE}/declaration", _declaration()),
    "override_eligibility": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/eligibility-override",
        {"reason": "人口要件は合併前の旧市で満たすため"},
    ),
    "draft_agreement": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/agreements",
        {
            "neighbour": OUTSIDER.model_dump(mode="json"),
            "drafted_on": tomorrow(),
            "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
        },
    ),
    "record_resolution": _resolution,
    "notify_abolition": _abolition,
    "adopt_policy": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/policy",
        {
            "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
            "resolved_on": tomorrow(),
            "number": "第3号",
        },
    ),
    "draft_vision": _vision,
    "record_council_review": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/vision/council-reviews",
        f.council_review(HUB, jst_today()).review.model_dump(mode="json"),
    ),
    "answer_consultation": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/vision/consultations/{own(r, LIVE.code)}",
        {"answer": "agree", "answered_on": jst_today().isoformat()},
    ),
    "publish_vision": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/vision/publication",
        {"published_on": jst_today().isoformat()},
    ),
    "review_fiscal_year": lambda r: ("POST", f"/api/zones/{ZONE}/fiscal-years/{FY}/review", None),
    "record_plan": lambda r: ("POST", f"/api/zones/{ZONE}/fiscal-years/{FY}/plan", {"plan": "計画"}),
    "record_projects": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/fiscal-years/{FY}/projects",
        {"projects": [{"initiative": "病児保育", "status": "実施中"}]},
    ),
    "record_kpi_actuals": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/kpis/bus-riders/actuals",
        {"fy": "R2", "value": 10000},
    ),
    "record_kpi_actuals_bulk": lambda r: ("UPLOAD", f"/api/zones/{ZONE}/kpis/actuals:bulk", None),
    "complete_check": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/fiscal-years/{FY}/check",
        {"checked_on": jst_today().isoformat()},
    ),
    "complete_action": lambda r: (
        "POST",
        f"/api/zones/{ZONE}/fiscal-years/{FY}/action",
        {"reviewed_on": jst_today().isoformat(), "results": "結果"},
    ),
}

CENTRAL_ONLY = {"ministry", "central"}
MEMBERS = {"ministry", "central", "live_neighbour"}
ALLOWED: dict[str, set[str]] = {
    "start_zone": {"ministry"},
    "override_eligibility": {"ministry"},
    "record_resolution": {"ministry", "central", "drafted_neighbour"},
    "notify_abolition": {"ministry", "central", "live_neighbour"},
    "answer_consultation": MEMBERS,
    "record_projects": MEMBERS,
    "record_kpi_actuals": MEMBERS,
    "record_kpi_actuals_bulk": MEMBERS,
}
READERS = {"ministry", "prefecture", "central", "live_neighbour", "drafted_neighbour"}


def _start_body() -> dict[str, Any]:
    body = f.start(declared_on=jst_today()).model_dump(mode="json")
    body.pop("started_by")
    return body


async def _post(web: WebStack, req: Request, headers: dict[str, str]) -> Any:
    method, path, body = req
    if method == "UPLOAD":
        return await web.http.post(
            path, headers=headers, files={"file": ("k.csv", b"kpi_id,fy,value\nx,R2,1\n")}
        )
    return await web.http.post(path, json=body, headers=headers)


@pytest.fixture(scope="module")
async def zone(web_module: WebStack) -> WebStack:
    """湖東 with one concluded and one drafted agreement."""
    web, today = web_module, jst_today().isoformat()
    ministry, hub = web.auth("ministry"), web.as_municipality(HUB)
    r = await web.http.post("/api/zones", json=_start_body(), headers=ministry)
    assert r.status_code == 201, r.text
    for m in (LIVE, DRAFTED):
        body = {
            "neighbour": m.model_dump(mode="json"),
            "drafted_on": today,
            "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
        }
        assert (
            await web.http.post(f"/api/zones/{ZONE}/agreements", json=body, headers=hub)
        ).status_code == 200
    res = {"resolved_on": today, "number": "議第1号"}
    for who in (hub, web.as_municipality(LIVE)):
        r = await web.http.post(
            f"/api/zones/{ZONE}/agreements/{LIVE.code}/resolutions", json=res, headers=who
        )
        assert r.status_code == 200, r.text
    return web


def _refusals(web: WebStack) -> int:
    with Session(web.engine) as s:
        return s.exec(select(func.count()).select_from(AuditRow).where(AuditRow.result == "refused")).one()


async def _version(web: WebStack) -> int:
    r = await web.http.get(f"/api/zones/{ZONE}", headers=web.auth("ministry"))
    return r.json()["zone"]["version"]


@pytest.mark.parametrize("act", sorted(ACT_REQUESTS))
@pytest.mark.parametrize("role", sorted(ROLES))
async def test_role_x_act(zone: WebStack, role: str, act: str) -> None:
    web = zone
    before, version = _refusals(web), await _version(web)
    resp = await _post(web, ACT_REQUESTS[act](role), web.auth(*ROLES[role]))
    allowed = role in ALLOWED.get(act, CENTRAL_ONLY)
    if allowed:
        assert resp.status_code in (409, 422), (resp.status_code, resp.text)
    else:
        assert resp.status_code == 403, (resp.status_code, resp.text)
    assert "detail" in resp.json()
    assert _refusals(web) == before + 1, "every refusal is audited once"
    assert await _version(web) == version


@pytest.mark.parametrize("act", sorted(ACT_REQUESTS))
async def test_no_token_is_401(zone: WebStack, act: str) -> None:
    resp = await _post(zone, ACT_REQUESTS[act]("ministry"), {})
    assert resp.status_code == 401


@pytest.mark.parametrize("role", sorted(ROLES))
async def test_who_reads_the_zone(zone: WebStack, role: str) -> None:
    headers = zone.auth(*ROLES[role])
    for path in (f"/api/zones/{ZONE}", f"/api/zones/{ZONE}/kpis", f"/api/zones/{ZONE}/notices"):
        resp = await zone.http.get(path, headers=headers)
        assert resp.status_code == (200 if role in READERS else 403), (path, resp.text)
    listed = (await zone.http.get("/api/zones", headers=headers)).json()
    assert ([z["id"] for z in listed] == [ZONE]) == (role in READERS)


async def test_prefecture_cannot_list_another_prefecture(zone: WebStack) -> None:
    r = await zone.http.get("/api/zones", params={"prefecture": "13"}, headers=zone.auth("prefecture", "25"))
    assert r.status_code == 403


# --------------------------------------------------------------------------- the pure policy


FACTS = ZoneFacts(
    zone_id=ZONE,
    central_codes=(HUB.code,),
    prefecture_codes=("25",),
    members={HUB.code: None, LIVE.code: "concluded", DRAFTED.code: "drafted"},
    hubs={LIVE.code: HUB.code, DRAFTED.code: HUB.code},
)
SUBJECT = {"record_resolution": DRAFTED.code, "notify_abolition": LIVE.code}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("role", sorted(ROLES))
def test_policy_matrix(role: str, act: str) -> None:
    kind, code = ROLES[role]
    actor = Actor(role=Role(kind), code=code)
    subject = SUBJECT.get(act) or (own(role, LIVE.code) if act == "answer_consultation" else None)
    decision = may_act(actor, act, FACTS, subject)
    assert bool(decision) == (role in ALLOWED.get(act, CENTRAL_ONLY))
    if not decision:
        assert decision.status == 403 and "(" in decision.message  # Japanese, then English
    assert bool(may_read_zone(actor, FACTS)) == (role in READERS)


def test_a_zones_state_shows_a_reader_only_the_pending_copies_addressed_to_it() -> None:
    """GET /api/zones/{id} returns the state with the copies not yet delivered (or failed): a
    prefecture or municipality sees only its own, as the notices APIs answer."""
    from datetime import UTC, datetime

    from kenflow.web.reads import state_for
    from models.lifecycle import initial_state

    state, first = initial_state(f.start(declared_on=jst_today()), datetime.now(UTC))
    state.notices.extend(first)
    recipients = {n.recipient for n in state.notices}
    pref = f"pref:{HUB.code[:2]}"
    assert pref in recipients and len(recipients) >= 2
    assert len(state_for(Actor(role=Role.ministry), state)["notices"]) == len(state.notices)
    seen = state_for(Actor(role=Role.prefecture, code=HUB.code[:2]), state)["notices"]
    assert seen and {n["recipient"] for n in seen} == {pref}
    town = state_for(Actor(role=Role.municipality, code=HUB.code), state)
    assert all(n["recipient"] == f"muni:{HUB.code}" for n in town["notices"])
    assert "timeline" not in town and town["zone_id"] == state.zone_id


# --------------------------------------------------------------------------- tokens


async def test_a_revoked_token_stops_working_within_the_cache_time(web: WebStack) -> None:
    """The web process trusts a token it looked up for `token_cache_seconds`; after that a
    revoked one gets 401, and a newly issued one works at once."""
    import asyncio
    import time

    from kenflow.auth import revoke_token

    token = web.token("ministry")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await web.http.get("/api/zones", headers=headers)).status_code == 200
    assert revoke_token(web.engine, token)
    ttl = web.settings.token_cache_seconds
    assert 0 < ttl <= 10
    began = time.monotonic()
    while (await web.http.get("/api/zones", headers=headers)).status_code == 200:
        assert time.monotonic() - began < ttl + 2, "a revoked token kept working"
        await asyncio.sleep(0.2)
    assert (await web.http.get("/api/zones", headers=headers)).status_code == 401
    assert (await web.http.get("/api/zones", headers=web.auth("ministry"))).status_code == 200


def test_token_cli_issues_hashed_tokens(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from kenflow.auth import actor_for_token, hash_token
    from kenflow.cli import app
    from kenflow.cli import commands as _commands  # noqa: F401  (registers `token`)
    from kenflow.db.engine import make_engine
    from kenflow.db.tables import ApiTokenRow
    from kenflow.settings import get_settings

    monkeypatch.setenv("KENFLOW_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(app, ["token", "issue", "--role", "municipality", "--code", "25202"])
        assert ok.exit_code == 0, ok.output
        token = ok.output.strip()
        for args, words in (
            (["--role", "municipality", "--code", "252020"], "検査数字"),
            (["--role", "ministry", "--code", "25"], "不要"),
            (["--role", "prefecture"], "--code"),
            (["--role", "prefecture", "--code", "48"], "都道府県"),
        ):
            bad = runner.invoke(app, ["token", "issue", *args])
            assert bad.exit_code == 2 and words in bad.output, bad.output
        engine = make_engine(get_settings().db_url)
        with Session(engine) as s:
            rows = s.exec(select(ApiTokenRow)).all()
        assert [r.token_hash for r in rows] == [hash_token(token)] and token not in str(rows[0].model_dump())
        actor = actor_for_token(engine, token)
        assert actor is not None and actor.role is Role.municipality and actor.code == HUB.code
        assert actor_for_token(engine, token + "x") is None
        engine.dispose()
    finally:
        get_settings.cache_clear()
