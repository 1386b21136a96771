"""Continue-as-new when the server suggests it, on the real dev server.

The time-skipping server never sets the suggestion, so here the dev server is told to suggest
it after 60 events; a zone taking many acts must then hop runs with nothing lost, and no run
may grow far past the suggestion.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from kenflow.temporal import register_search_attributes
from models.municipality import Municipality, MunicipalityKind
from models.zone import AgreementStatus
from tests import zone_kit as k
from tests.factories import HIKONE, code
from tests.web_fixtures import dev_server

SUGGEST_AFTER = 60
NEIGHBOURS = [
    Municipality(code=code(f"25{380 + i:03d}"), name=f"テスト町{i}", kind=MunicipalityKind.town)
    for i in range(10)
]


@pytest.fixture
async def dev_env():
    async with dev_server(
        "--dynamic-config-value",
        f"limit.historyCount.suggestContinueAsNew={SUGGEST_AFTER}",
        data_converter=pydantic_data_converter,
    ) as env:
        await register_search_attributes(env.client)
        yield env


async def test_zone_continues_as_new_when_suggested_and_keeps_everything(dev_env, tmp_path) -> None:
    kit = k.Kit.of(dev_env, k.ReadModel.create(tmp_path))
    async with kit.running():
        today = await kit.today()
        zone = await kit.start(k.declare_start([HIKONE], today))
        for neighbour in NEIGHBOURS:
            await k.conclude(zone, HIKONE, neighbour, today, today)
        for _ in range(300):  # settle: the last run may still hop once its deliveries finish
            state = await zone.state()
            runs = await k.all_runs(kit.client, zone.zone_id)
            if state.run == len(runs) > 1 and not state.notices:
                break
            await asyncio.sleep(0.1)
        assert len(runs) >= 3, "30 acts at ~9 events each must outgrow a 60-event suggestion"
        lengths = [len(h.events) for h in runs]
        print("events per run:", lengths)
        for n in lengths[:-1]:  # a settled last run may be short
            # A run hops once the deliveries it started have finished (so none is sent twice);
            # acts arriving meanwhile still land, so allow the overshoot, but it must stay bounded.
            assert SUGGEST_AFTER <= n < 2 * SUGGEST_AFTER
        assert state.run == len(runs)
        assert [a.status for a in state.agreements.values()] == [AgreementStatus.concluded] * 10
        acts = [e.act for e in state.timeline]
        assert acts.count("draft_agreement") == 10 and acts.count("record_resolution") == 20
        assert [e.seq for e in state.timeline] == list(range(1, len(state.timeline) + 1))
        # every accepted update is in exactly one run's history
        accepted = [u for h in runs for u in k.accepted_update_ids(h)]
        assert len(accepted) == len(set(accepted)) == 30
