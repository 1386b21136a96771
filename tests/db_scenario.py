"""A zone's life replayed through models.lifecycle, producing the ProjectionInputs the workflow
would send: 湖東定住自立圏 (彦根市 + 3 towns + 関ケ原町 across the prefecture border) from the
declaration through agreements, the vision and one fiscal year's CHECK."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from models import acts as A
from models.lifecycle import initial_state, perform
from models.projection import ProjectionInput
from models.zone import ConsultationAnswer, Resolution, ZoneState
from tests.factories import (
    CROSS,
    HIKONE,
    MINISTRY,
    NEIGHBOURS,
    actor_of,
    council_review,
    initiatives,
    start,
    vision_draft,
)

TODAY = date(2025, 6, 1)


@dataclass
class Replay:
    """Performs acts like the workflow does and keeps every projection it would send."""

    state: ZoneState
    now: datetime
    sent: int = 0
    projections: list[ProjectionInput] = field(default_factory=list)

    @classmethod
    def begin(cls, start_act: A.StartZone, now: datetime) -> Replay:
        state, notices = initial_state(start_act, now)
        state.notices.extend(notices)
        r = cls(state=state, now=now)
        r.project()
        return r

    def project(self) -> ProjectionInput:
        new = self.state.timeline[self.sent :]
        self.sent = len(self.state.timeline)
        p = ProjectionInput.of(self.state.model_copy(deep=True), new)
        self.projections.append(p)
        return p

    def act(self, act: A.Act) -> ProjectionInput:
        self.now += timedelta(minutes=1)
        outcome = perform(self.state, act, self.now, TODAY)
        assert not outcome.duplicate, outcome.summary
        self.state.notices.extend(outcome.notices)
        return self.project()


def kohoku(now: datetime | None = None) -> Replay:
    """The full life up to FY2020's CHECK: 1 + 16 acts, 17 projections."""
    r = Replay.begin(start(declared_on=date(2019, 4, 1)), now or datetime(2025, 6, 1, 1, 0, tzinfo=UTC))
    hub = actor_of(HIKONE)
    towns = [*NEIGHBOURS, CROSS]
    for n, town in enumerate(towns):
        r.act(
            A.DraftAgreement(
                actor=hub, neighbour=town, initiatives=initiatives(), drafted_on=date(2019, 6, 1)
            )
        )
        for who in (HIKONE, town):
            r.act(
                A.RecordResolution(
                    actor=actor_of(who),
                    neighbour_code=town.code,
                    resolution=Resolution(
                        municipality_code=who.code,
                        resolved_on=date(2019, 9, 20 + n),
                        number=f"議案第{n + 1}号",
                    ),
                )
            )
    r.act(vision_draft(HIKONE, date(2019, 11, 1), 2020))
    r.act(council_review(HIKONE, date(2019, 12, 1)))
    for town in towns:
        r.act(
            A.AnswerConsultation(
                actor=actor_of(town),
                municipality_code=town.code,
                answer=ConsultationAnswer.agree,
                answered_on=date(2020, 1, 10),
            )
        )
    r.act(A.PublishVision(actor=hub, published_on=date(2020, 3, 1)))
    r.act(A.ReviewFiscalYear(actor=MINISTRY, fy=2020))
    r.act(A.RecordPlan(actor=hub, fy=2020, plan="病児保育の広域利用を拡大する"))
    r.act(
        A.RecordKpiActuals(
            actor=hub,
            actuals=[
                A.ActualEntry(kpi_id="sick-child-care", fy=2020, value=500),
                A.ActualEntry(kpi_id="bus-riders", fy=2020, value=12500),
            ],
        )
    )
    r.act(A.CompleteCheck(actor=hub, fy=2020, checked_on=TODAY))
    return r
