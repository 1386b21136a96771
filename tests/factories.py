"""Builders for zones used across tests: 湖東定住自立圏 (彦根市 and four towns, DOMAIN.md) plus a
cross-prefecture neighbour, and a metropolitan area. Codes carry real check digits."""

from __future__ import annotations

from datetime import date

from models import acts as A
from models.actor import Actor, Role
from models.codes import check_digit
from models.kpi import KpiDefinition, KpiPoint, KpiTarget
from models.municipality import Municipality, MunicipalityKind
from models.perspective import Perspective
from models.programme import Programme
from models.zone import (
    CouncilMember,
    CouncilReview,
    Declaration,
    Initiative,
    ReviewOutcome,
    VisionInitiative,
)

MINISTRY = Actor(role=Role.ministry, name="総務省 地域自立応援課")


def code(five: str) -> str:
    return f"{five}{check_digit(five)}"


def city(
    five: str,
    name: str,
    *,
    population: int = 112_000,
    ratio: float = 1.05,
    kind: MunicipalityKind = MunicipalityKind.city,
    **kw,
) -> Municipality:
    return Municipality(
        code=code(five), name=name, kind=kind, population=population, day_night_ratio=ratio, **kw
    )


def town(five: str, name: str) -> Municipality:
    return Municipality(
        code=code(five), name=name, kind=MunicipalityKind.town, population=8_000, day_night_ratio=0.8
    )


HIKONE = city("25202", "彦根市", population=113_679, ratio=1.06)
NEIGHBOURS = [town("25425", "愛荘町"), town("25441", "豊郷町"), town("25442", "甲良町")]
CROSS = town("21361", "関ケ原町")  # 岐阜県: a cross-prefecture neighbour
LATE = town("25443", "多賀町")  # joins later


def actor_of(m: Municipality) -> Actor:
    return Actor(role=Role.municipality, code=m.code, name=m.name)


def declaration(on: date) -> Declaration:
    return Declaration(
        will="圏域全体の暮らしに必要な都市機能を集約的に整備し、近隣町と連携して中心的な役割を担う。",
        urban_functions="総合病院、大学、大規模商業施設が集積している。",
        cooperation="愛荘町、豊郷町、甲良町、多賀町と医療・公共交通・人材育成で連携する。",
        declared_on=on,
    )


def initiatives(programme: Programme = Programme.settlement) -> list[Initiative]:
    if programme is Programme.metropolitan:
        return [
            Initiative(perspective=Perspective.growth, field="a", title="産学金官の共同研究"),
            Initiative(perspective=Perspective.urban, field="a", title="高度医療の提供"),
            Initiative(perspective=Perspective.services, field="b", title="圏域公共交通ネットワーク"),
        ]
    return [
        Initiative(perspective=Perspective.living, field="a", title="病児・病後児保育の広域利用"),
        Initiative(perspective=Perspective.network, field="a", title="コミュニティバスの広域運行"),
        Initiative(perspective=Perspective.management, field="a", title="合同職員研修"),
    ]


def start(
    central: list[Municipality] | None = None,
    *,
    programme: Programme = Programme.settlement,
    declared_on: date,
    name: str = "湖東定住自立圏",
    **kw,
) -> A.StartZone:
    return A.StartZone(
        programme=programme,
        name=name,
        central_cities=central or [HIKONE],
        declaration=declaration(declared_on),
        started_by=MINISTRY,
        **kw,
    )


def kpis() -> list[KpiDefinition]:
    return [
        KpiDefinition(
            id="sick-child-care",
            name="病児・病後児保育の利用者数",
            perspective=Perspective.living,
            field="a",
            unit="人",
            targets=[
                KpiTarget(
                    version=1, baseline=KpiPoint(value=484, fy=2014), target=KpiPoint(value=600, fy=2019)
                )
            ],
        ),
        KpiDefinition(
            id="bus-riders",
            name="コミュニティバス年間利用者数",
            perspective=Perspective.network,
            field="a",
            unit="人",
            targets=[
                KpiTarget(
                    version=1, baseline=KpiPoint(value=9259, fy=2015), target=KpiPoint(value=12000, fy=2019)
                )
            ],
        ),
    ]


def vision_draft(
    hub: Municipality,
    drafted_on: date,
    start_fy: int,
    *,
    revision: bool = False,
    kpi_list: list[KpiDefinition] | None = None,
) -> A.DraftVision:
    return A.DraftVision(
        actor=actor_of(hub),
        title="湖東定住自立圏共生ビジョン",
        future_image="誰もが安心して住み続けられる圏域",
        initiatives=[
            VisionInitiative(
                perspective=Perspective.living,
                field="a",
                title="病児保育",
                schedule="5年間",
                municipalities=[hub.code],
            )
        ],
        kpis=kpis() if kpi_list is None else kpi_list,
        period_start_fy=start_fy,
        revision=revision,
        drafted_on=drafted_on,
    )


def council_review(hub: Municipality, met_on: date) -> A.RecordCouncilReview:
    return A.RecordCouncilReview(
        actor=actor_of(hub),
        review=CouncilReview(
            met_on=met_on,
            outcome=ReviewOutcome.approved,
            members=[
                CouncilMember(sector="医療", name="彦根市立病院長"),
                CouncilMember(sector="公共交通", name="近江鉄道"),
            ],
        ),
    )
