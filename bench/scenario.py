"""The national programme as data: N zones, their acts phase by phase, and how many notices
each act sends (counted by running the same pure rules locally, so the baseline can run the
same number of activities per update).

Phase 0 is a zone's whole formation (agreements with each neighbour and both councils'
resolutions, vision draft, council review, consultations, publication; the declaration comes
with the start). Phases 1..Y are one fiscal year's PDCA each: review, plan, projects, one KPI
actual per act for every KPI, check, action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from models import acts as A
from models.actor import Actor, Role
from models.codes import METRO_AREA_PREFECTURES, PREFECTURES, check_digit
from models.fiscal import JST, fiscal_year_of, fiscal_year_start
from models.kpi import KpiDefinition, KpiPoint, KpiTarget
from models.lifecycle import initial_state, perform
from models.municipality import Municipality, MunicipalityKind
from models.perspective import Perspective
from models.programme import Programme
from models.zone import (
    ConsultationAnswer,
    CouncilMember,
    CouncilReview,
    Declaration,
    Initiative,
    ProjectStatus,
    ReminderPolicy,
    Resolution,
    ReviewOutcome,
    VisionInitiative,
)
from workflows.zone import NOTICE_BATCH_SIZE

MINISTRY = Actor(role=Role.ministry, name="総務省 地域自立応援課")
PREFS = [p for p in PREFECTURES if p not in METRO_AREA_PREFECTURES]
# 533 municipalities in 126 zones: 4.23 per zone, so 3.23 neighbours per central city.
NEIGHBOURS_PER_ZONE = 533 / 126 - 1
# Reminders far away where acts are back-dated, so the run measures acts, not reminder storms.
QUIET = ReminderPolicy(
    resolution_missing_days=3650, consultation_missing_days=3650, kpi_actuals_due_days=3650
)


@dataclass
class Dates:
    """The business date of formation, and (fiscal year, date its PDCA is run) per year."""

    formation: date
    years: list[tuple[int, date]]


def skipping_dates(today: date, years: int) -> Dates:
    """Time-skipping server: form today, then review each FY just after it ends (the bench
    sleeps to April 2 of the next one)."""
    fy0 = fiscal_year_of(today)
    return Dates(today, [(fy0 + y - 1, date(fy0 + y, 4, 2)) for y in range(1, years + 1)])


def backdated_dates(today: date, years: int) -> Dates:
    """Real-clock servers: formed Y-1 fiscal years ago, then every past FY reviewed today."""
    now_fy = fiscal_year_of(today)
    return Dates(
        fiscal_year_start(now_fy - years + 1), [(now_fy - years + y, today) for y in range(1, years + 1)]
    )


def _muni(five: str, name: str, kind: MunicipalityKind, population: int, ratio: float) -> Municipality:
    return Municipality(
        code=f"{five}{check_digit(five)}", name=name, kind=kind, population=population, day_night_ratio=ratio
    )


def kpi(n: int) -> KpiDefinition:
    return KpiDefinition(
        id=f"kpi-{n:03d}",
        name=f"成果指標{n}",
        perspective=Perspective.living,
        field="a",
        unit="人",
        targets=[
            KpiTarget(version=1, baseline=KpiPoint(value=100, fy=2015), target=KpiPoint(value=200, fy=2030))
        ],
    )


INITIATIVES = [
    Initiative(perspective=Perspective.living, field="a", title="病児・病後児保育の広域利用"),
    Initiative(perspective=Perspective.network, field="a", title="コミュニティバスの広域運行"),
    Initiative(perspective=Perspective.management, field="a", title="合同職員研修"),
]


def actor(m: Municipality) -> Actor:
    return Actor(role=Role.municipality, code=m.code, name=m.name)


@dataclass
class Zone:
    """One zone's start and its acts, phase by phase, with the notices each act sends."""

    start: A.StartZone
    hub: Municipality
    neighbours: list[Municipality]
    kpis: list[KpiDefinition]
    phases: list[list[A.Act]] = field(default_factory=list)
    notices: list[list[int]] = field(default_factory=list)  # delivery activities per act
    start_notices: int = 0

    @property
    def zone_id(self) -> str:
        return self.start.zone_id


def make_zone(i: int, dates: Dates, *, kpis: int, quiet: bool, past_vision: bool = False) -> Zone:
    pref = PREFS[i % len(PREFS)]
    k = i // len(PREFS)  # up to 99 hubs per prefecture
    hub = _muni(f"{pref}{200 + k:03d}", f"中心{i}市", MunicipalityKind.city, 80_000, 1.05)
    count = int((i + 1) * NEIGHBOURS_PER_ZONE) - int(i * NEIGHBOURS_PER_ZONE)
    neighbours = [
        _muni(f"{pref}{300 + k * 5 + j:03d}", f"近隣{i}-{j}町", MunicipalityKind.town, 8_000, 0.8)
        for j in range(count)
    ]
    on = dates.formation
    declaration = Declaration(
        will="圏域の中心的な役割を担う。",
        urban_functions="病院・大学・商業施設が集積。",
        cooperation="近隣町と医療・交通・人材育成で連携する。",
        declared_on=on,
    )
    defs = [kpi(n) for n in range(kpis)]
    past = None
    if past_vision:
        past = A.RecordedPast(
            agreements=[
                A.PastAgreement(neighbour=n, initiatives=INITIATIVES, concluded_on=on) for n in neighbours
            ],
            vision=A.PastVision(
                title="共生ビジョン",
                kpis=defs,
                period_start_fy=fiscal_year_of(on),
                period_end_fy=fiscal_year_of(on) + 30,
                published_on=on,
                initiatives=[VisionInitiative(perspective=Perspective.living, field="a", title="病児保育")],
            ),
        )
    start = A.StartZone(
        programme=Programme.settlement,
        name=f"第{i}定住自立圏",
        central_cities=[hub],
        declaration=declaration,
        started_by=MINISTRY,
        past=past,
        reminders=QUIET if quiet else ReminderPolicy(),
    )
    return Zone(start, hub, neighbours, defs)


def formation(z: Zone, on: date) -> list[A.Act]:
    h = actor(z.hub)
    acts: list[A.Act] = []
    for n, m in enumerate(z.neighbours):
        acts.append(A.DraftAgreement(actor=h, neighbour=m, initiatives=INITIATIVES, drafted_on=on))
        acts.append(
            A.RecordResolution(
                actor=h,
                neighbour_code=m.code,
                resolution=Resolution(
                    municipality_code=z.hub.code, resolved_on=on, number=f"議案第{n + 1}号"
                ),
            )
        )
        acts.append(
            A.RecordResolution(
                actor=actor(m),
                neighbour_code=m.code,
                resolution=Resolution(municipality_code=m.code, resolved_on=on, number=f"議第{n + 1}号"),
            )
        )
    acts.append(
        A.DraftVision(
            actor=h,
            title="共生ビジョン",
            future_image="誰もが安心して住み続けられる圏域",
            kpis=z.kpis,
            initiatives=[
                VisionInitiative(
                    perspective=Perspective.living, field="a", title="病児保育", municipalities=[z.hub.code]
                )
            ],
            period_start_fy=fiscal_year_of(on),
            period_years=10,
            drafted_on=on,
        )
    )
    acts.append(
        A.RecordCouncilReview(
            actor=h,
            review=CouncilReview(
                met_on=on,
                outcome=ReviewOutcome.approved,
                members=[CouncilMember(sector="医療", name="市立病院長")],
            ),
        )
    )
    acts += [
        A.AnswerConsultation(
            actor=actor(m), municipality_code=m.code, answer=ConsultationAnswer.agree, answered_on=on
        )
        for m in z.neighbours
    ]
    acts.append(A.PublishVision(actor=h, published_on=on))
    return acts


def fiscal_year(z: Zone, fy: int, on: date, n: int) -> list[A.Act]:
    """One PDCA turn; the n-th year's actuals climb 10 a year from the baseline."""
    h = actor(z.hub)
    return [
        A.ReviewFiscalYear(actor=h, fy=fy),
        A.RecordPlan(actor=h, fy=fy, plan=f"{fy}年度の計画: 広域連携事業を継続する"),
        A.RecordProjects(actor=h, fy=fy, projects=[ProjectStatus(initiative="病児保育", status="実施中")]),
        *[
            A.RecordKpiActuals(actor=h, actuals=[A.ActualEntry(kpi_id=k.id, fy=fy, value=100 + 10 * n)])
            for k in z.kpis
        ],
        A.CompleteCheck(actor=h, fy=fy, checked_on=on),
        A.CompleteAction(actor=h, fy=fy, reviewed_on=on, results="概ね順調に進捗した"),
    ]


def build(zones: int, years: int, kpis: int, dates: Dates, *, quiet: bool) -> list[Zone]:
    """Every zone's script, checked against the rules locally (a refused act is a bench bug)."""
    out = []
    for i in range(zones):
        z = make_zone(i, dates, kpis=kpis, quiet=quiet)
        z.phases = [formation(z, dates.formation)] + [
            fiscal_year(z, fy, on, n) for n, (fy, on) in enumerate(dates.years, start=1)
        ]
        state, first = initial_state(z.start, _noon(dates.formation))
        z.start_notices = deliveries(len(first))
        days = [dates.formation] + [on for _, on in dates.years]
        for phase, today in zip(z.phases, days, strict=True):
            z.notices.append(
                [deliveries(len(perform(state, act, _noon(today), today).notices)) for act in phase]
            )
        out.append(z)
    return out


def deliveries(notices: int) -> int:
    """The delivery activities a zone starts for `notices` notices that became due together:
    one per batch of NOTICE_BATCH_SIZE (workflows/zone.py), so the baseline starts as many."""
    return -(-notices // NOTICE_BATCH_SIZE)


def _noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=JST)


def noon_after(moment: datetime, d: date) -> timedelta:
    """How long to sleep from `moment` to noon JST on `d`."""
    return _noon(d) - moment
