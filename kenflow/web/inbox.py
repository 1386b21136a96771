"""What waits on one municipality: council resolutions to record, consultations to answer, KPI
figures due. Derived from the zones' states in the read model, so the inbox empties itself the
moment an act is accepted (the projection runs before the act returns)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from kenflow.db import queries as Q
from models.kpi import KpiDefinition
from models.zone import AgreementStatus, VisionStatus, ZoneState

from .reads import zone_states


@dataclass
class Task:
    id: str  # DOM id, stable across renders so htmx can swap the card
    kind: str  # "resolution" | "consultation" | "kpi"
    zone_id: str
    zone_name: str
    title: str
    action: str  # where the form posts
    counterpart: str = ""  # the agreement's other party, for resolutions
    kpi: KpiDefinition | None = None
    fy: int | None = None
    error: str | None = None
    field_errors: dict[str, str] = field(default_factory=dict)
    done: str | None = None
    values: dict[str, str] = field(default_factory=dict)  # what the clerk typed, kept on a refusal


def _dom(*parts: str) -> str:
    return "task-" + "-".join(p.replace(".", "_").replace(":", "_") for p in parts)


def tasks_for(state: ZoneState, code: str) -> list[Task]:
    out: list[Task] = []
    zid, zname = state.zone_id, state.name
    for neighbour, ag in state.agreements.items():
        if ag.status is AgreementStatus.drafted and code in ag.parties and code not in ag.resolutions:
            other = ag.hub_code if code == neighbour else neighbour
            other_m = state.municipality(other)
            out.append(
                Task(
                    _dom("res", zid, neighbour),
                    "resolution",
                    zid,
                    zname,
                    f"{ag.title}の議会の議決",
                    f"/inbox/{zid}/resolutions/{neighbour}",
                    counterpart=other_m.name if other_m else other,
                )
            )
    v = state.vision
    if (
        v is not None
        and v.status is VisionStatus.reviewed
        and code in v.consultees
        and code not in v.consultations
    ):
        out.append(
            Task(
                _dom("con", zid, str(v.version)),
                "consultation",
                zid,
                zname,
                f"{v.title}(第{v.version}版)への協議の回答",
                f"/inbox/{zid}/consultations/{code}",
            )
        )
    if code in state.member_codes() and state.published_vision is not None:
        for fy, review in sorted(state.reviews.items()):
            if review.check_on is not None:
                continue
            have = {a.kpi_id for a in state.actuals if a.fy == fy}
            for k in state.kpis.values():
                if k.id not in have:
                    out.append(
                        Task(
                            _dom("kpi", zid, k.id, str(fy)),
                            "kpi",
                            zid,
                            zname,
                            k.name,
                            f"/inbox/{zid}/kpis/{k.id}/{fy}",
                            kpi=k,
                            fy=fy,
                        )
                    )
    return out


def inbox(engine: Engine, code: str) -> tuple[list[Task], list[ZoneState]]:
    """Every task of the municipality, and the zones it belongs to."""
    zones = [z for z, _ in Q.zones_of_municipality(engine, code)]
    states = zone_states(engine, [z.id for z in zones])
    tasks = [t for z in zones for t in tasks_for(states[z.id], code)]
    return tasks, [states[z.id] for z in zones]


def find_task(engine: Engine, code: str, task_id: str) -> Task | None:
    return next((t for t in inbox(engine, code)[0] if t.id == task_id), None)
