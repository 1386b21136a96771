"""What the zone-workflow tests and tests/record_histories.py share: the real worker on a real
read model (migrated SQLite under a temp dir, notices in its file outbox), a clock that moves in
Japanese calendar days, and one handle per zone that acts through ZoneService like the API does.

Nothing here stands in for a real part: the activities are the worker's own.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from kenflow.db.engine import make_engine
from kenflow.db.migrate import upgrade
from kenflow.db.queries import get_zone
from kenflow.db.tables import NoticeRow
from kenflow.service import ZoneService
from kenflow.settings import Settings
from models import acts as A
from models.actor import Actor
from models.fiscal import fiscal_year_of, jst_date, jst_midnight
from models.kpi import KpiDefinition, KpiKind, KpiPoint, KpiTarget
from models.municipality import FormerCity, Municipality
from models.notice import MIC, RELATED_MINISTRIES
from models.perspective import Perspective
from models.programme import Programme
from models.zone import (
    ConsultationAnswer,
    CouncilMember,
    CouncilReview,
    Initiative,
    ProjectStatus,
    Resolution,
    ReviewOutcome,
    TimelineEntry,
    VisionInitiative,
    ZoneState,
)
from tests import factories as f
from worker import build_worker
from workflows.zone import ZoneWorkflow

MINISTRIES = set(RELATED_MINISTRIES)


# --------------------------------------------------------------------------- the parts


@dataclass
class ReadModel:
    settings: Settings
    engine: Engine

    @classmethod
    def create(cls, data_dir: Path) -> ReadModel:
        """A migrated SQLite read model; notices go to `data_dir`/outbox (the file channel)."""
        url = f"sqlite:///{data_dir / 'kenflow.db'}"
        upgrade(url)
        return cls(Settings(data_dir=data_dir, database_url=url, default_channel="file"), make_engine(url))


@dataclass
class Kit:
    env: WorkflowEnvironment
    rm: ReadModel
    task_queue: str

    @classmethod
    def of(cls, env: WorkflowEnvironment, rm: ReadModel) -> Kit:
        return cls(env, rm, f"kenflow-{uuid.uuid4().hex[:8]}")

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def service(self) -> ZoneService:
        return ZoneService(self.client, self.task_queue)

    def worker(self) -> Worker:
        return build_worker(self.client, self.rm.settings, self.rm.engine, task_queue=self.task_queue)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Kit]:
        async with self.worker():
            yield self

    # the clock ---------------------------------------------------------------

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def today(self) -> date:
        """Today in Japan, as the workflow sees it."""
        return jst_date(await self.now())

    async def goto(self, day: date, hour: int = 12) -> date:
        """Move Temporal's clock forward to `hour`:00 JST on `day`."""
        delta = jst_midnight(day) + timedelta(hours=hour) - await self.now()
        assert delta > timedelta(0), f"{day} is not in the future"
        await self.env.sleep(delta)
        return day

    async def days(self, n: int) -> date:
        return await self.goto(await self.today() + timedelta(days=n))

    async def start(self, start: A.StartZone) -> Zone:
        return Zone(self, await self.service.start_zone(start))


@dataclass
class Zone:
    kit: Kit
    zone_id: str

    @property
    def handle(self) -> WorkflowHandle:
        """The latest run: after continue-as-new, acts and queries follow the zone."""
        return self.kit.client.get_workflow_handle_for(ZoneWorkflow.run, self.zone_id)

    async def act(self, act: A.Act, update_id: str | None = None) -> A.ActResult:
        return await self.kit.service.act(self.zone_id, act, update_id)

    async def state(self) -> ZoneState:
        return await self.kit.service.state(self.zone_id)

    async def until(self, check: Callable[[ZoneState], bool], within: float = 15.0) -> ZoneState:
        """The state once `check` holds (timers and deliveries run after env.sleep returns)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            state = await self.state()
            if check(state):
                return state
            assert loop.time() < deadline, "the zone did not reach the expected state in time"
            await asyncio.sleep(0.05)

    async def delivered(self) -> ZoneState:
        """Every notice sent so far has been delivered (and dropped from the state)."""
        return await self.until(lambda s: not s.notices)

    def notices(self, document: str | None = None) -> list[NoticeRow]:
        with Session(self.kit.rm.engine) as s:
            q = select(NoticeRow).where(NoticeRow.zone_id == self.zone_id)
            if document is not None:
                q = q.where(NoticeRow.document == document)
            return list(s.exec(q.order_by(NoticeRow.created_at, NoticeRow.key)).all())

    async def recipients(self, document: str, within: float = 15.0) -> set[str]:
        """Who a document's notices went to, once the read model has them (at least one)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (rows := self.notices(document)):
            assert loop.time() < deadline, f"no notice of {document} reached the read model"
            await asyncio.sleep(0.05)
        return {n.recipient for n in rows}

    async def history(self) -> WorkflowHistory:
        return await self.handle.fetch_history()

    def audit(self) -> list[TimelineEntry]:
        """The zone's timeline as its read model holds it (the audit table), oldest first."""
        detail = get_zone(self.kit.rm.engine, self.zone_id, limit=None, include_refused=False)
        return detail.state.timeline if detail else []

    async def timeline(self, within: float = 15.0) -> list[TimelineEntry]:
        """The zone's whole timeline as its workflow holds it (past runs' entries unpacked), once
        its read model holds the very same entries: an entry a deadline adds is written just
        after the state shows it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            whole = (await self.state()).whole_timeline()
            written = self.audit()
            if written == whole:
                return whole
            assert loop.time() < deadline, f"the read model holds {len(written)} of {len(whole)} entries"
            await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- history


def accepted_update_ids(history: WorkflowHistory) -> list[str]:
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]


def previous_run(history: WorkflowHistory) -> str | None:
    first: HistoryEvent = history.events[0]
    return first.workflow_execution_started_event_attributes.continued_execution_run_id or None


async def all_runs(client: Client, zone_id: str) -> list[WorkflowHistory]:
    """Every run of a zone, oldest first, by following continue-as-new backwards."""
    runs = [await client.get_workflow_handle(zone_id).fetch_history()]
    while (prev := previous_run(runs[0])) is not None:
        runs.insert(0, await client.get_workflow_handle(zone_id, run_id=prev).fetch_history())
    return runs


def patch_markers(history: WorkflowHistory) -> dict[str, int]:
    """The workflow.patched() ids a run recorded, each with its marker's index among the events
    (the markers' payloads are JSON)."""
    out: dict[str, int] = {}
    for i, e in enumerate(history.events):
        if e.HasField("marker_recorded_event_attributes"):
            data = e.marker_recorded_event_attributes.details.get("patch-data")
            if data is not None:
                out.update({json.loads(p.data)["id"]: i for p in data.payloads})
    return out


# --------------------------------------------------------------------------- municipalities and acts


code, actor = f.code, f.actor_of  # the names the workflow tests know them by


HIKONE, CROSS, LATE = f.HIKONE, f.CROSS, f.LATE
SHIGA_TOWNS = f.NEIGHBOURS  # 愛荘町, 豊郷町, 甲良町
KOTO_NEIGHBOURS = [*SHIGA_TOWNS, CROSS]  # 関ケ原町 lies in 岐阜県

# 連携中枢都市圏: 松山市 (中核市) and its neighbours
MATSUYAMA = Municipality(
    code=code("38201"), name="松山市", core_city=True, population=511_192, day_night_ratio=1.01
)
MATSUYAMA_NEIGHBOURS = [
    Municipality(code=code("38210"), name="伊予市", population=36_000, day_night_ratio=0.86),
    Municipality(code=code("38215"), name="東温市", population=33_000, day_night_ratio=0.95),
    f.town("38401", "松前町"),
]

# 複眼型: 滝川市 and 砂川市 together as the centre of 中空知
TAKIKAWA = Municipality(code=code("01225"), name="滝川市", population=39_000, day_night_ratio=1.08)
SUNAGAWA = Municipality(code=code("01226"), name="砂川市", population=16_500, day_night_ratio=1.05)
NAIE, SHINTOTSUKAWA = f.town("01423", "奈井江町"), f.town("01432", "新十津川町")

# a merged city forming a zone alone (形成方針)
SADO = Municipality(
    code=code("15224"),
    name="佐渡市",
    population=51_492,
    day_night_ratio=0.99,
    former_cities=[FormerCity(name="両津市", population=15_000, day_night_ratio=1.02)],
)


def initiatives(programme: Programme = Programme.settlement) -> list[Initiative]:
    return f.initiatives(programme)


def kpis(fy: int) -> list[KpiDefinition]:
    """Two KPIs over the vision's five years: one that keeps up, one that falls behind."""
    return [
        KpiDefinition(
            id="sick-child-care",
            name="病児・病後児保育の利用者数",
            perspective=Perspective.living,
            field="a",
            unit="人",
            targets=[
                KpiTarget(
                    version=1,
                    baseline=KpiPoint(value=484, fy=fy - 1),
                    target=KpiPoint(value=600, fy=fy + 4),
                )
            ],
        ),
        KpiDefinition(
            id="bus-riders",
            name="コミュニティバス年間利用者数",
            perspective=Perspective.network,
            field="a",
            unit="人",
            kind=KpiKind.higher,
            targets=[
                KpiTarget(
                    version=1,
                    baseline=KpiPoint(value=9_259, fy=fy - 1),
                    target=KpiPoint(value=12_000, fy=fy + 4),
                )
            ],
        ),
    ]


def metro_kpis(fy: int) -> list[KpiDefinition]:
    return [
        KpiDefinition(
            id="joint-research",
            name="産学金官の共同研究件数",
            perspective=Perspective.growth,
            field="a",
            unit="件",
            targets=[
                KpiTarget(
                    version=1, baseline=KpiPoint(value=4, fy=fy - 1), target=KpiPoint(value=20, fy=fy + 4)
                )
            ],
        )
    ]


def declare_start(
    central: list[Municipality],
    on: date,
    *,
    programme: Programme = Programme.settlement,
    name: str = "湖東定住自立圏",
    **kw: object,
) -> A.StartZone:
    return f.start(central, programme=programme, declared_on=on, name=name, **kw)  # type: ignore[arg-type]


def draft(
    hub: Municipality,
    neighbour: Municipality,
    on: date,
    *,
    programme: Programme = Programme.settlement,
    months: int = 24,
    signer: Municipality | None = None,
) -> A.DraftAgreement:
    return A.DraftAgreement(
        actor=actor(signer or hub),
        neighbour=neighbour,
        hub_code=hub.code,
        initiatives=initiatives(programme),
        notice_period_months=months,
        drafted_on=on,
    )


def resolution(
    council: Municipality, neighbour: Municipality, on: date, number: str = "議案第1号"
) -> A.RecordResolution:
    return A.RecordResolution(
        actor=actor(council),
        neighbour_code=neighbour.code,
        resolution=Resolution(municipality_code=council.code, resolved_on=on, number=number),
    )


async def conclude(
    zone: Zone, hub: Municipality, neighbour: Municipality, drafted_on: date, resolved_on: date, **kw: object
) -> None:
    """Draft an agreement and record both councils' resolutions."""
    await zone.act(draft(hub, neighbour, drafted_on, **kw))  # type: ignore[arg-type]
    await zone.act(resolution(hub, neighbour, resolved_on, "議案第10号"))
    await zone.act(resolution(neighbour, neighbour, resolved_on, "議案第20号"))


def vision(
    hub: Municipality,
    on: date,
    start_fy: int,
    *,
    kpi_list: list[KpiDefinition] | None = None,
    revision: bool = False,
    perspective: Perspective = Perspective.living,
    title: str = "共生ビジョン",
) -> A.DraftVision:
    return A.DraftVision(
        actor=actor(hub),
        title=title,
        future_image="誰もが安心して住み続けられる圏域",
        initiatives=[
            VisionInitiative(
                perspective=perspective,
                field="a",
                title="圏域の中核的取組",
                schedule="5年間",
                municipalities=[hub.code],
            )
        ],
        kpis=kpis(start_fy) if kpi_list is None else kpi_list,
        period_start_fy=start_fy,
        revision=revision,
        drafted_on=on,
    )


def council(
    hub: Municipality, on: date, outcome: ReviewOutcome = ReviewOutcome.approved
) -> A.RecordCouncilReview:
    return A.RecordCouncilReview(
        actor=actor(hub),
        review=CouncilReview(
            met_on=on,
            outcome=outcome,
            members=[
                CouncilMember(sector="医療", name="市立病院長"),
                CouncilMember(sector="公共交通", name="地域交通事業者"),
                CouncilMember(sector="大規模小売店", name="商業施設協議会"),
            ],
        ),
    )


def answer(
    m: Municipality, on: date, answer: ConsultationAnswer = ConsultationAnswer.agree, comments: str = ""
) -> A.AnswerConsultation:
    return A.AnswerConsultation(
        actor=actor(m), municipality_code=m.code, answer=answer, comments=comments, answered_on=on
    )


def publish(hub: Municipality, on: date) -> A.PublishVision:
    return A.PublishVision(actor=actor(hub), published_on=on)


async def adopt_vision(
    zone: Zone, hub: Municipality, consulted: list[Municipality], on: date, start_fy: int, **kw: object
) -> None:
    """Draft, council review, every consultation, publication, all on one day."""
    await zone.act(vision(hub, on, start_fy, **kw))  # type: ignore[arg-type]
    await zone.act(council(hub, on))
    for m in consulted:
        await zone.act(answer(m, on))
    await zone.act(publish(hub, on))


def actuals(kit_fy: int, values: dict[str, float], who: Actor) -> A.RecordKpiActuals:
    return A.RecordKpiActuals(
        actor=who, actuals=[A.ActualEntry(kpi_id=k, fy=kit_fy, value=v) for k, v in values.items()]
    )


async def pdca_year(zone: Zone, hub: Municipality, fy: int, values: dict[str, float], on: date) -> None:
    """One turn of the yearly cycle on day `on` (within FY `fy`)."""
    me = actor(hub)
    await zone.act(A.ReviewFiscalYear(actor=me, fy=fy))
    await zone.act(A.RecordPlan(actor=me, fy=fy, plan=f"{fy}年度の事業計画"))
    await zone.act(
        A.RecordProjects(
            actor=me, fy=fy, projects=[ProjectStatus(initiative="圏域の中核的取組", status="実施中")]
        )
    )
    await zone.act(actuals(fy, values, me))
    await zone.act(A.CompleteCheck(actor=me, fy=fy, checked_on=on))
    await zone.act(
        A.CompleteAction(
            actor=me, fy=fy, reviewed_on=on, results="懇談会で検証した", improvements="運行経路を見直す"
        )
    )


def past_zone(
    today: date,
    *,
    neighbours: list[Municipality] | None = None,
    period_years: int = 5,
) -> A.StartZone:
    """湖東 as it stands on paper: agreements concluded two years ago, a vision published last
    fiscal year. Its old notices were sent long ago, on paper."""
    fy = fiscal_year_of(today)
    past = A.RecordedPast(
        agreements=[
            A.PastAgreement(neighbour=n, initiatives=initiatives(), concluded_on=date(fy - 2, 10, 1))
            for n in (neighbours if neighbours is not None else KOTO_NEIGHBOURS)
        ],
        vision=A.PastVision(
            title="湖東定住自立圏共生ビジョン",
            kpis=kpis(fy - 1),
            period_start_fy=fy - 1,
            period_end_fy=fy - 2 + period_years,
            published_on=date(fy - 1, 6, 1),
            initiatives=[VisionInitiative(perspective=Perspective.living, field="a", title="病児保育")],
        ),
    )
    return declare_start([HIKONE], date(fy - 2, 5, 1), past=past)


def copies_to(*recipients: str) -> set[str]:
    """A published document's recipients: the copies plus MIC's forwarding to the ministries."""
    return {*recipients, MIC, *MINISTRIES}
