"""KPI figures: one at a time, a whole sheet at once (all or nothing), and the sheet back out."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from kenflow.db import queries as Q
from kenflow.kpi_export import export_csv, export_rows, export_xlsx
from kenflow.policy import may_act
from kenflow.service import ZoneNotFound
from models import acts as A
from models.fiscal import JST
from models.kpi_import import BulkImportError, parse_actuals
from models.zone import ZoneState

from . import reads
from .bodies import ActualBody
from .core import Denied, Web, run_act
from .deps import ApiActor, WebDep, readable_zone

router = APIRouter(prefix="/api/zones/{zone_id}/kpis")


def _today() -> Any:
    return datetime.now(JST).date()


async def _state(web: Web, zone_id: str) -> ZoneState:
    detail = await asyncio.to_thread(Q.get_zone, web.engine, zone_id)
    if detail is None:
        raise ZoneNotFound(f"圏域 {zone_id} が見つかりません (zone {zone_id} not found)")
    return detail.state


@router.get("")
async def list_kpis(
    zone_id: str,
    web: WebDep,
    actor: ApiActor,
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Any:
    """Each KPI with its actuals, the evaluations taken at each CHECK and a current evaluation;
    `?format=csv|xlsx` gives the sheet councils receive (re-importable through actuals:bulk)."""
    await readable_zone(web, actor, zone_id)
    state = await _state(web, zone_id)
    today = _today()
    if format != "json":
        rows = export_rows(
            state.kpis.values(), state.actuals, reads.export_years(state, today), zone_id=zone_id
        )
        if format == "csv":
            return Response(
                export_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{zone_id}-kpi.csv"'},
            )
        return Response(
            export_xlsx(rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{zone_id}-kpi.xlsx"'},
        )
    snapshots = await asyncio.to_thread(Q.kpi_evaluations, web.engine, zone_id)
    return [
        {
            "kpi": v.kpi.model_dump(mode="json"),
            "actuals": [a.model_dump(mode="json") for a in v.actuals],
            "evaluations": [e.model_dump(mode="json") for e in v.evaluations],
            "latest": v.latest.model_dump(mode="json") if v.latest else None,
        }
        for v in reads.kpi_views(state, snapshots, today)
    ]


@router.post("/actuals:bulk")
async def record_kpi_actuals_bulk(
    zone_id: str,
    file: Annotated[UploadFile, File(description="CSV (UTF-8/Shift_JIS) または .xlsx")],
    request: Request,
    web: WebDep,
    actor: ApiActor,
) -> Any:
    """A whole sheet as ONE update: any bad row rejects the file (422 listing every row)."""
    facts = await readable_zone(web, actor, zone_id, "record_kpi_actuals")
    decision = may_act(actor, "record_kpi_actuals", facts)
    if not decision:
        await web.audit(zone_id, "record_kpi_actuals", actor, decision.message)
        raise Denied(decision)
    data = await file.read()
    name = (file.filename or "upload.csv")[-200:]
    state = await _state(web, zone_id)
    try:
        actuals = parse_actuals(data, name, state.kpis, actor.label(), today=_today())
    except BulkImportError as err:
        await web.audit(zone_id, "record_kpi_actuals", actor, str(err))
        errors = [e.model_dump() for e in err.errors]
        return JSONResponse({"detail": str(err), "errors": errors}, status_code=422)
    entries = [
        A.ActualEntry(
            kpi_id=a.kpi_id, fy=a.fy, value=a.value, from_fy=a.from_fy, estimate=a.estimate, label=a.label
        )
        for a in actuals
    ]
    key = request.headers.get("idempotency-key")
    return await run_act(
        web,
        actor,
        zone_id,
        "record_kpi_actuals",
        lambda: A.RecordKpiActuals(actor=actor, actuals=entries, source=name),
        update_id=f"bulk:{key[:100]}" if key else None,
    )


@router.post("/{kpi_id}/actuals")
async def record_kpi_actuals(
    zone_id: str, kpi_id: str, body: ActualBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    key = request.headers.get("idempotency-key")
    return await run_act(
        web,
        actor,
        zone_id,
        "record_kpi_actuals",
        lambda: body.act(actor, kpi_id),
        update_id=f"actual:{key[:100]}" if key else None,
    )
