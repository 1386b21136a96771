"""Property-based checks of every operation in /openapi.json: whatever schemathesis sends,
positive or negative, the API never answers 5xx.

The stack is real (time-skipping Temporal server, worker, migrated SQLite) and runs in a
background thread (LiveStack); the app under test is a second instance reached in-process
through schemathesis's ASGI transport, connecting to the same Temporal server from its own
event loop, with a ministry token (the widest reads; acts still meet the policy and the rules).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from kenflow.db.engine import make_engine
from kenflow.settings import Settings
from kenflow.web.app import create_app
from tests import factories as f
from tests.web_fixtures import LiveStack, jst_today

MAX_EXAMPLES = 12
NB = f.NEIGHBOURS[0]
ZONE = f"settlement-{f.HIKONE.code}"


def _spec() -> dict:
    """The schema as the app publishes it; an app on an in-memory engine is enough to read it."""
    return create_app(Settings(secret_key="schema-only"), engine=make_engine("sqlite://")).openapi()


schema = schemathesis.openapi.from_dict(_spec())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with LiveStack(tmp_path_factory.mktemp("schemathesis")) as stack:
        yield stack


def _seed_zone(live: LiveStack, auth: dict[str, str]) -> None:
    """湖東 with a concluded agreement, through the served API, so generated acts reach Temporal."""
    today = jst_today().isoformat()
    body = f.start(declared_on=jst_today()).model_dump(mode="json")
    body.pop("started_by")
    hub = {"Authorization": f"Bearer {live.token('municipality', f.HIKONE.code)}"}
    nb = {"Authorization": f"Bearer {live.token('municipality', NB.code)}"}
    with httpx.Client(base_url=live.url, timeout=30) as http:
        assert http.post("/api/zones", json=body, headers=auth).status_code == 201
        agreement = {
            "neighbour": NB.model_dump(mode="json"),
            "drafted_on": today,
            "initiatives": [i.model_dump(mode="json") for i in f.initiatives()],
        }
        assert http.post(f"/api/zones/{ZONE}/agreements", json=agreement, headers=hub).status_code == 200
        for who in (hub, nb):
            r = http.post(
                f"/api/zones/{ZONE}/agreements/{NB.code}/resolutions",
                headers=who,
                json={"resolved_on": today, "number": "議第1号"},
            )
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def target(live: LiveStack) -> tuple[FastAPI, dict[str, str]]:
    auth = {"Authorization": f"Bearer {live.token('ministry')}"}
    _seed_zone(live, auth)
    settings_ = live.settings.model_copy(update={"temporal_address": live.temporal_target})
    return create_app(settings_, engine=live.engine), auth


def _no_5xx(case: schemathesis.Case, response: schemathesis.Response) -> None:
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:500]}"
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_no_server_errors(case: schemathesis.Case, target: tuple[FastAPI, dict[str, str]]) -> None:
    """Each generated request as is (mostly unknown zones), then aimed at the real zone and its
    real neighbour, so bodies that pass validation meet the policy, Temporal and the rules."""
    app, auth = target
    _no_5xx(case, case.call(app=app, headers=auth))
    params = case.path_parameters or {}
    if "zone_id" in params:
        params["zone_id"] = ZONE
        if "municipality_code" in params:
            params["municipality_code"] = NB.code
        _no_5xx(case, case.call(app=app, headers=auth))


def test_schema_lists_the_contract(target: tuple[FastAPI, dict[str, str]]) -> None:
    paths = set(_spec()["paths"])
    for p in (
        "/api/zones/{zone_id}/agreements/{municipality_code}/resolutions",
        "/api/zones/{zone_id}/kpis/actuals:bulk",
        "/api/zones/{zone_id}/fiscal-years/{fy}/action",
        "/api/stats",
        "/api/notices",
        "/api/eligibility",
        "/api/municipalities",
        "/api/health",
    ):
        assert p in paths
    assert Path(__file__).exists()
