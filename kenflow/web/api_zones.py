"""Read routes and starting a zone. Reads come from the read model only."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from kenflow.db import queries as Q
from kenflow.db.seed import to_municipality
from kenflow.policy import may_start_zone, visible_prefecture
from kenflow.service import Refused, ZoneExists, ZoneNotFound
from models.codes import CodeError, MunicipalityCode, normalize_prefecture
from models.eligibility import EligibilityVerdict
from models.eligibility import check as eligibility_check
from models.fiscal import JST
from models.municipality import Municipality
from models.programme import Programme
from models.zone import Phase

from . import reads, views
from .bodies import StartZoneBody, ZoneCreated
from .core import Denied
from .deps import ApiActor, WebDep, check_readable, readable_zone

router = APIRouter(prefix="/api")


@router.get("/health")
async def health(web: WebDep) -> dict[str, Any]:
    """Liveness, and whether Temporal answers (never fails itself)."""
    temporal = "unknown"
    if web.client is not None:
        try:
            await asyncio.wait_for(web.client.service_client.check_health(), timeout=2)
            temporal = "ok"
        except Exception:  # noqa: BLE001
            temporal = "unavailable"
    return {"status": "ok", "temporal": temporal}


@router.get("/municipalities")
def municipalities(
    web: WebDep,
    actor: ApiActor,
    q: Annotated[str | None, Query(max_length=100)] = None,
    prefecture: Annotated[str | None, Query(max_length=10)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    rows = Q.search_municipalities(web.engine, q=q, prefecture=prefecture, limit=limit)
    return [r.model_dump() for r in rows]


class EligibilityBody(BaseModel):
    """Cities as full figures, or as codes looked up in the municipality table."""

    programme: Programme
    central_cities: list[Municipality | MunicipalityCode] = Field(min_length=1, max_length=2)
    travel_minutes: float | None = Field(default=None, ge=0, le=600)


@router.post("/eligibility")
def eligibility(body: EligibilityBody, web: WebDep, actor: ApiActor) -> EligibilityVerdict:
    cities: list[Municipality] = []
    for c in body.central_cities:
        if isinstance(c, Municipality):
            cities.append(c)
            continue
        row = Q.get_municipality(web.engine, c)
        if row is None:
            raise CodeError(
                f"団体コード {c} は市町村の一覧にありません (municipality {c} is not in the register)"
            )
        cities.append(to_municipality(row))
    return eligibility_check(body.programme, cities, body.travel_minutes)


@router.get("/zones")
def list_zones(
    web: WebDep,
    actor: ApiActor,
    phase: Phase | None = None,
    prefecture: Annotated[str | None, Query(max_length=10)] = None,
    programme: Programme | None = None,
) -> list[dict[str, Any]]:
    pref = normalize_prefecture(prefecture) if prefecture else None
    pref, decision = visible_prefecture(actor, pref)
    if not decision:
        raise Denied(decision)
    rows = reads.visible_zones(web.engine, actor, phase=phase, prefecture=pref, programme=programme)
    return [views.zone_summary(z) for z in rows]


@router.post("/zones", status_code=201)
async def start_zone(body: Annotated[StartZoneBody, Body()], web: WebDep, actor: ApiActor) -> ZoneCreated:
    """Start a zone's workflow (ministry). Answers once the read model shows the zone."""
    decision = may_start_zone(actor)
    if not decision:
        await web.audit(None, "start_zone", actor, decision.message)
        raise Denied(decision)
    start = body.act(actor)
    service = await web.service()
    try:
        zone_id = await service.start_zone(start)
    except (Refused, ZoneExists) as err:
        await web.audit(start.zone_id, "start_zone", actor, str(err))
        raise
    return ZoneCreated(zone_id=zone_id, projected=await reads.wait_for_zone(web.engine, zone_id))


TimelineLimit = Annotated[int, Query(ge=1, le=500, description="entries per page (1-500)")]


@router.get("/zones/{zone_id}", response_model=dict[str, Any])
async def get_zone(
    zone_id: str,
    request: Request,
    web: WebDep,
    actor: ApiActor,
    timeline_limit: TimelineLimit = Q.TIMELINE_PAGE,
) -> Response:
    """The zone's full state and the newest entries of its timeline, from the read model.
    `timeline_total` counts every accepted entry; `timeline_older` pages back through
    GET /api/zones/{id}/timeline (null when the first entry is shown). The answer carries an
    ETag: sent back in If-None-Match, it gets 304 while the zone has not changed."""
    today = datetime.now(JST).date()
    found = await asyncio.to_thread(web.zone_reads.read, web.engine, zone_id, actor, timeline_limit, today)
    if found is None:
        raise ZoneNotFound(f"圏域 {zone_id} が見つかりません (zone {zone_id} not found)")
    await check_readable(web, actor, found.facts)
    headers = {"ETag": found.etag, "Cache-Control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match"), found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type="application/json", headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this entity tag (weak comparison, `*` any)."""
    tags = {t.strip().removeprefix("W/") for t in (if_none_match or "").split(",")}
    return etag in tags or "*" in tags


@router.get("/zones/{zone_id}/timeline")
async def zone_timeline(
    zone_id: str,
    web: WebDep,
    actor: ApiActor,
    before: Annotated[
        int | None, Query(ge=1, le=Q.INT_MAX, description="entries with a seq below this")
    ] = None,
    limit: TimelineLimit = Q.TIMELINE_PAGE,
) -> dict[str, Any]:
    """A page of the zone's accepted timeline, oldest first: the newest `limit` entries with a
    seq below `before` (the newest of all without it). `older` is the page before, or null."""
    await readable_zone(web, actor, zone_id)
    rows = await asyncio.to_thread(Q.timeline_page, web.engine, zone_id, before, limit)
    return {"entries": [views.audit_entry(a) for a in rows], "older": views.older_link(zone_id, rows, limit)}


@router.get("/zones/{zone_id}/notices")
async def zone_notices(
    zone_id: str,
    web: WebDep,
    actor: ApiActor,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="copies per page (1-1000)")] = 500,
    offset: Annotated[int, Query(ge=0, le=Q.INT_MAX, description="copies to skip, newest first")] = 0,
) -> list[dict[str, Any]]:
    """The zone's copies the caller may see, newest first, a page at a time: a zone sends copies
    for decades. `X-Total-Count` gives how many there are, and a `Link: <...>; rel="next"`
    header the next page while there is one."""
    await readable_zone(web, actor, zone_id)
    # copies addressed to others stay private
    copies = await asyncio.to_thread(reads.notice_slice, web.engine, actor, zone_id, limit, offset)
    response.headers["X-Total-Count"] = str(copies.total)
    if offset + limit < copies.total:
        nxt = f"/api/zones/{quote(zone_id, safe='')}/notices?limit={limit}&offset={offset + limit}"
        response.headers["Link"] = f'<{nxt}>; rel="next"'
    return [views.notice(n, copies.deliveries.get(n.key, [])) for n in copies.notices]


@router.get("/notices")
def notices(
    web: WebDep, actor: ApiActor, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[dict[str, Any]]:
    """The ministry sees every notice; a prefecture or municipality the copies addressed to it."""
    return [views.notice(n) for n in reads.notices_for(web.engine, actor, limit)]


@router.get("/stats/kpis")
def kpi_stats(
    web: WebDep,
    actor: ApiActor,
    fy: Annotated[
        str | None, Query(description="年度: R3, 令和3年度, 2021 ...; default the last finished FY")
    ] = None,
    programme: Programme | None = None,
    years: Annotated[int, Query(ge=1, le=30)] = 5,
) -> dict[str, Any]:
    """National KPI roll-ups as the ministry reports them: how many zones set KPIs in each
    policy field (医療 97, 福祉 88 …), and the share achieved / on track / behind by field and by
    zone for one fiscal year, with its trend over the preceding years."""
    from models.era import FiscalYearError, format_fiscal_year, parse_fiscal_year
    from models.fiscal import fiscal_year_of
    from models.kpi_rollup import status_shares, status_trend, zones_per_field

    today = datetime.now(JST).date()
    try:
        year = parse_fiscal_year(fy, today=today) if fy else fiscal_year_of(today) - 1
    except FiscalYearError as err:
        raise HTTPException(422, str(err)) from None
    zones = Q.national_kpis(web.engine, programme.value if programme else None)
    fys = list(range(year - years + 1, year + 1))
    return {
        "fiscal_year": year,
        "fiscal_year_ja": format_fiscal_year(year),
        "zones": len(zones),
        "zones_per_field": [c.model_dump(mode="json") for c in zones_per_field(zones) if c.zones],
        "by_field": [s.model_dump(mode="json") for s in status_shares(zones, year, by="field")],
        "by_zone": [s.model_dump(mode="json") for s in status_shares(zones, year, by="zone")],
        "trend": {
            k: [s.model_dump(mode="json") for s in v] for k, v in status_trend(zones, fys, by="all").items()
        },
    }


@router.get("/stats")
def stats(web: WebDep, actor: ApiActor) -> dict[str, Any]:
    """National figures per programme, computed live from the read model."""
    figures = Q.national_stats(web.engine)
    phases = Q.phase_counts(web.engine)
    by_field = reads.kpi_status_by_field(web.engine)
    return {
        "programmes": {
            p.value: {
                **figures[p].model_dump(mode="json"),
                "programme_ja": p.ja,
                "phases": {ph.value: phases.get((p.value, ph.value), 0) for ph in Phase},
            }
            for p in Programme
        },
        "kpi_status_by_field": [
            {"perspective": k[0], "field": k[1], "counts": dict(v)} for k, v in by_field.items()
        ],
    }
