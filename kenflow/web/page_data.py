"""What each page shows, built from the read model (sync; routes call these in a thread)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from sqlalchemy import Engine

from kenflow.db import queries as Q
from models.actor import Actor, Role
from models.codes import PREFECTURES, CodeError, normalize_prefecture
from models.era import format_fiscal_year
from models.kpi import STATUS_JA, KpiStatus
from models.perspective import FIELDS, PERSPECTIVE_JA, Perspective
from models.programme import Programme
from models.zone import PHASE_JA, Phase

from . import reads, svg, views

STATUS_LABELS = {s.value: label for s, label in STATUS_JA.items()}


def _choice(value: str | None, allowed: set[str]) -> str | None:
    """Pages ignore a filter they cannot read instead of failing: a stale bookmark still works."""
    return value if value in allowed else None


def dashboard(
    engine: Engine,
    actor: Actor,
    prefecture: str | None,
    programme: str | None,
    phase: str | None,
    today: date,
) -> dict[str, Any]:
    try:
        pref = normalize_prefecture(prefecture) if prefecture else None
    except CodeError:
        pref = None
    if actor.role is Role.prefecture:
        pref = actor.code
    programme = _choice(programme, {p.value for p in Programme})
    phase = _choice(phase, {p.value for p in Phase})
    zones = reads.visible_zones(engine, actor, phase=phase, prefecture=pref, programme=programme)
    states = reads.zone_states(engine, [z.id for z in zones])
    kpi = reads.kpi_status_by_zone(engine)
    rows = []
    for z in zones:
        st = states[z.id]
        rows.append(
            {
                "zone": z,
                "programme_ja": Programme(z.programme).ja,
                "phase_ja": PHASE_JA[Phase(z.phase)],
                "central": "・".join(m.name for m in st.central_cities),
                "prefectures": "・".join(PREFECTURES.get(p, p) for p in st.prefecture_codes()),
                "formed_ja": views.ja(z.formed_on),
                "overdue": [
                    {"what": o.what, "since_ja": views.ja(o.since)} for o in reads.overdue_items(st, today)
                ],
                "kpi": {s.value: kpi[z.id][s.value] for s in KpiStatus if kpi.get(z.id, Counter())[s.value]},
            }
        )
    formed = Counter[int]()
    for per_programme in reads.formed_per_year(zones).values():
        formed.update(per_programme)
    bars = (
        [(format_fiscal_year(fy, style="short"), formed[fy]) for fy in range(min(formed), max(formed) + 1)]
        if formed
        else []
    )
    by_field = reads.kpi_status_by_field(engine, [z.id for z in zones])
    field_rows = [(FIELDS[Perspective(p)][f], dict(c)) for (p, f), c in sorted(by_field.items())]
    figures = Q.national_stats(engine)
    return {
        "rows": rows,
        "stats": [{**figures[p].model_dump(), "programme_ja": p.ja} for p in Programme],
        "formed_chart": svg.bar_chart(bars, "年度別の圏域形成数"),
        "field_chart": svg.stacked_bars(field_rows, STATUS_LABELS, "政策分野別のKPIの状況"),
        "filters": {"prefecture": pref, "programme": programme, "phase": phase},
        "prefectures": PREFECTURES,
        "programmes": list(Programme),
        "phases": PHASE_JA,
        "status_ja": STATUS_LABELS,
    }


def zone_page(engine: Engine, zone_id: str, today: date, actor: Actor) -> dict[str, Any] | None:
    """The zone page's data as `actor` may see it (notices: reads.notices_for)."""
    detail = Q.get_zone(engine, zone_id, include_refused=False)  # the page shows accepted acts
    if detail is None:
        return None
    state = detail.state
    copies = reads.notice_slice(engine, actor, zone_id, reads.NOTICE_PAGE)
    return {
        "state": state,
        "phase_ja": PHASE_JA[state.phase],
        "prefectures": "・".join(PREFECTURES.get(p, p) for p in state.prefecture_codes()),
        "overdue": reads.overdue_items(state, today),
        "timeline": (accepted := [a for a in detail.timeline if a.result == "accepted"]),
        "timeline_total": detail.accepted,
        "older": older_page(zone_id, accepted),
        "kpis": reads.kpi_views(state, Q.kpi_evaluations(engine, zone_id), today),
        "notices": copies.notices,
        "notices_total": copies.total,
        "deliveries": copies.deliveries,
        "perspectives": [p for p in Perspective if p in _perspectives(state.programme)],
        "fields": FIELDS,
        "perspective_ja": PERSPECTIVE_JA,
        "status_ja": STATUS_LABELS,
    }


def older_page(zone_id: str, entries: list[Any]) -> str | None:
    """The page URL of the timeline entries before these (oldest first), if there are any."""
    before = Q.older_than(entries)
    return f"/zones/{zone_id}/timeline?before={before}" if before else None


def timeline_page(engine: Engine, zone_id: str, before: int | None) -> dict[str, Any]:
    rows = Q.timeline_page(engine, zone_id, before)
    return {"timeline": rows, "older": older_page(zone_id, rows)}


NOTICES_PER_PAGE = 100


def notices_page(engine: Engine, zone_id: str, actor: Actor, page: int) -> dict[str, Any] | None:
    """Page `page` (from 1, newest first) of the copies `actor` may see in a zone: the zone
    page shows the newest reads.NOTICE_PAGE, and a zone keeps sending them for decades."""
    detail = Q.get_zone(engine, zone_id, include_refused=False, limit=1)
    if detail is None:
        return None
    copies = reads.notice_slice(engine, actor, zone_id, NOTICES_PER_PAGE, (page - 1) * NOTICES_PER_PAGE)
    pages = max(1, -(-copies.total // NOTICES_PER_PAGE))
    return {
        "state": detail.state,
        "notices": copies.notices,
        "notices_total": copies.total,
        "deliveries": copies.deliveries,
        "page": page,
        "pages": pages,
        "newer": f"/zones/{zone_id}/notices?page={min(page - 1, pages)}" if page > 1 else None,
        "older": f"/zones/{zone_id}/notices?page={page + 1}" if page < pages else None,
    }


def _perspectives(programme: Programme) -> tuple[Perspective, ...]:
    from models.perspective import PROGRAMME_PERSPECTIVES

    return PROGRAMME_PERSPECTIVES[programme]
