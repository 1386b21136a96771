"""The pages: login, the national dashboard, a zone's page and a municipality's inbox.

Plain HTML forms that post to these routes, which call the same core.run_act as the API, so a
refusal reads the same in both; htmx (vendored in /static) only swaps an inbox card in place.
A refusal is shown next to the field it concerns when the message names one, else atop the form.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import escape
from pydantic import ValidationError
from temporalio.service import RPCError

from kenflow.auth import actor_for_token, hash_token
from kenflow.db.queries import INT_MAX
from kenflow.policy import may_start_zone, unauthenticated
from kenflow.service import Refused, ZoneBusy, ZoneExists, ZoneNotFound
from models import acts as A
from models.actor import Actor, Role
from models.codes import CodeError
from models.era import FiscalYearError
from models.fiscal import JST
from models.kpi import KIND_JA
from models.kpi_values import ValueFormatError, format_value
from models.municipality import MunicipalityKind
from models.notice import recipient_label
from models.programme import Programme
from models.zone import AGREEMENT_STATUS_JA, PHASE_JA, ZoneState

from . import page_data, svg, views
from .bodies import ActualBody, ConsultationBody, DraftAgreementBody, ResolutionBody, StartZoneBody
from .core import (
    TEMPORAL_DOWN,
    Denied,
    TemporalUnavailable,
    Web,
    act_error_message,
    pydantic_messages,
    run_act,
)
from .deps import PageActor, WebDep, readable_zone
from .inbox import Task, inbox
from .reads import wait_for_zone

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
templates.env.globals.update(
    ja=views.ja,
    fy=views.fy_ja,
    num=format_value,
    kpi_chart=svg.kpi_chart,
    recipient_label=recipient_label,
    agreement_status_ja=AGREEMENT_STATUS_JA,
    kind_ja=KIND_JA,
    vision_status_ja={
        "drafted": "素案",
        "reviewed": "懇談会了承・協議中",
        "published": "公表済",
        "superseded": "旧版",
    },
    notice_status_ja={"pending": "送付待ち", "delivered": "送付済", "failed": "送付失敗"},
    phase_labels=PHASE_JA,
    channel_ja={"file": "ファイル", "email": "電子メール", "webhook": "Webhook"},
    outcome_ja={
        "delivered": "送付済",
        "retry": "再送待ち",
        "failed": "失敗",
        "skipped_duplicate": "送付済(重複)",
    },
)
KINDS = {
    MunicipalityKind.town.value: "町",
    MunicipalityKind.village.value: "村",
    MunicipalityKind.city.value: "市",
}


def _today() -> Any:
    return datetime.now(JST).date()


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    actor: Actor | None = getattr(request.state, "actor", None)
    flash = request.session.pop("flash", None) if "session" in request.scope else None
    base = {
        "actor": actor,
        "actor_label": actor.label() if actor else "",
        "flash": flash,
        "today": _today().isoformat(),
        "errors": {},
        "values": {},
        "error": None,
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    heading = {403: "この操作・閲覧は許可されていません", 404: "見つかりません"}.get(
        status, "処理できませんでした"
    )
    return render(request, "error.html", {"heading": heading, "message": message}, status)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _local(path: str | None) -> str | None:
    """Only a path on this site: '//host' and 'https://…' would send a clerk elsewhere after login."""
    if path and path.startswith("/") and not path.startswith(("//", "/\\")):
        return path
    return None


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


def _field_of(loc: list[str], aliases: dict[str, str]) -> str:
    key = ".".join(loc[1:] if loc and loc[0] == "body" else loc)
    return aliases.get(key, loc[-1] if loc else "")


def _guess(message: str, hints: dict[str, tuple[str, ...]]) -> str | None:
    """The form field a refusal talks about, so it can be shown next to it."""
    for fieldname, words in hints.items():
        if any(w in message for w in words):
            return fieldname
    return None


async def _submit(
    web: Web,
    actor: Actor,
    zone_id: str,
    name: str,
    build: Callable[[], A.Act],
    *,
    subject: str | None = None,
    council: str | None = None,
    aliases: dict[str, str] | None = None,
    hints: dict[str, tuple[str, ...]] | None = None,
) -> tuple[A.ActResult | None, int, str | None, dict[str, str]]:
    """run_act for a form: (result, status, message for the form, messages per field)."""
    try:
        return (
            await run_act(web, actor, zone_id, name, build, subject=subject, council=council),
            200,
            None,
            {},
        )
    except ValidationError as err:
        errors = pydantic_messages(err.errors())
        await web.audit(zone_id, name, actor, "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors))
        return (
            None,
            422,
            "入力内容を確認してください",
            {_field_of(e["loc"], aliases or {}): e["msg"] for e in errors},
        )
    except (CodeError, FiscalYearError, ValueFormatError) as err:
        await web.audit(zone_id, name, actor, str(err))
        return None, 422, str(err), {}
    except (Denied, Refused, ZoneNotFound) as err:
        msg = act_error_message(err)
        status = err.status if isinstance(err, Denied) else 404 if isinstance(err, ZoneNotFound) else 409
        field = _guess(msg, hints or {})
        return None, status, None if field else msg, {field: msg} if field else {}
    except ZoneBusy as err:
        return None, 503, str(err), {}
    except (TemporalUnavailable, RPCError):
        return None, 503, TEMPORAL_DOWN, {}


# --------------------------------------------------------------------------- login


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", {"next": _local(next) or "/"})


@router.post("/login")
async def login(request: Request, web: WebDep) -> Response:
    form = await _form(request)
    token, target = form.get("token", ""), form.get("next", "/")
    actor = await asyncio.to_thread(actor_for_token, web.engine, token)
    if actor is None:
        await web.audit(None, "login", None, unauthenticated().message)
        return render(
            request,
            "login.html",
            {"next": target, "error": "トークンが正しくないか、無効になっています"},
            401,
        )
    request.session.clear()
    request.session["token_hash"] = hash_token(token)
    home = "/inbox" if actor.role is Role.municipality else "/"
    target = _local(target)
    return _see(target if target and target not in ("/", "/login") else home)


@router.post("/logout")
async def logout(request: Request) -> Response:
    request.session.clear()
    return _see("/login")


# --------------------------------------------------------------------------- coordinators


@router.get("/")
async def dashboard(
    request: Request,
    web: WebDep,
    actor: PageActor,
    prefecture: str | None = None,
    programme: str | None = None,
    phase: str | None = None,
) -> Response:
    if actor.role is Role.municipality:
        return _see("/inbox")
    ctx = await asyncio.to_thread(
        page_data.dashboard, web.engine, actor, prefecture, programme, phase, _today()
    )
    return render(request, "dashboard.html", ctx)


START_ALIASES = {
    "central_cities.0.code": "code",
    "central_cities.0.name": "city",
    "central_cities.0.population": "population",
    "central_cities.0.day_night_ratio": "ratio",
    "central_cities.0": "code",
}


@router.get("/zones/new")
async def new_zone_form(request: Request, actor: PageActor) -> Response:
    if not may_start_zone(actor):
        return error_page(request, 403, may_start_zone(actor).message)
    return render(request, "zone_new.html", {"programmes": list(Programme)})


@router.post("/zones/new")
async def new_zone(request: Request, web: WebDep, actor: PageActor) -> Response:
    decision = may_start_zone(actor)
    if not decision:
        await web.audit(None, "start_zone", actor, decision.message)
        return error_page(request, 403, decision.message)
    form = await _form(request)
    ctx: dict[str, Any] = {"programmes": list(Programme), "values": form}
    try:
        body = StartZoneBody.model_validate(
            {
                "programme": form.get("programme"),
                "name": form.get("name"),
                "central_cities": [
                    {
                        "code": form.get("code"),
                        "name": form.get("city"),
                        "population": form.get("population") or None,
                        "day_night_ratio": form.get("ratio") or None,
                    }
                ],
                "declaration": {
                    "will": form.get("will"),
                    "urban_functions": form.get("urban_functions"),
                    "cooperation": form.get("cooperation"),
                    "declared_on": form.get("declared_on"),
                },
                "override_reason": form.get("override_reason") or None,
            }
        )
        start = body.act(actor)
        zone_id = await (await web.service()).start_zone(start)
    except ValidationError as err:
        errors = pydantic_messages(err.errors())
        await web.audit(None, "start_zone", actor, "; ".join(e["msg"] for e in errors))
        ctx["errors"] = {_field_of(e["loc"], START_ALIASES): e["msg"] for e in errors}
        return render(request, "zone_new.html", {**ctx, "error": "入力内容を確認してください"}, 422)
    except (Refused, ZoneExists) as err:
        await web.audit(None, "start_zone", actor, str(err))
        return render(request, "zone_new.html", {**ctx, "error": str(err)}, 409)
    except (TemporalUnavailable, RPCError):
        return render(request, "zone_new.html", {**ctx, "error": TEMPORAL_DOWN}, 503)
    await wait_for_zone(web.engine, zone_id)
    request.session["flash"] = f"{start.name}のワークフローを開始しました"
    return _see(f"/zones/{zone_id}")


# --------------------------------------------------------------------------- a zone


def _name_of(state: ZoneState) -> Callable[[str], str]:
    """A member's name by its code, for the notices table's recipients (the code if unknown)."""
    return lambda code: m.name if (m := state.municipality(code)) else code


async def _zone_page(
    request: Request, web: Web, actor: Actor, zone_id: str, status: int = 200, **extra: Any
) -> Response:
    ctx = await asyncio.to_thread(page_data.zone_page, web.engine, zone_id, _today(), actor)
    if ctx is None:
        return error_page(request, 404, f"圏域 {zone_id} が見つかりません")
    state = ctx["state"]
    ctx["name_of"] = _name_of(state)
    ctx["can_draft"] = actor.role is Role.ministry or actor.code in state.central_codes
    ctx["kinds"] = KINDS
    return render(request, "zone.html", {**ctx, **extra}, status)


@router.get("/zones/{zone_id}")
async def zone_page(request: Request, zone_id: str, web: WebDep, actor: PageActor) -> Response:
    try:
        await readable_zone(web, actor, zone_id)
    except (Denied, ZoneNotFound) as err:
        return error_page(request, getattr(err, "status", 404), act_error_message(err))
    return await _zone_page(request, web, actor, zone_id)


@router.get("/zones/{zone_id}/timeline")
async def zone_timeline_page(
    request: Request,
    zone_id: str,
    web: WebDep,
    actor: PageActor,
    before: Annotated[int | None, Query(ge=1, le=INT_MAX)] = None,
) -> Response:
    """The timeline entries before `before`: list items for the zone page's 以前の経過を表示
    (htmx swaps them in for the link), or a page of their own without htmx."""
    try:
        await readable_zone(web, actor, zone_id)
    except (Denied, ZoneNotFound) as err:
        return error_page(request, getattr(err, "status", 404), act_error_message(err))
    ctx = await asyncio.to_thread(page_data.timeline_page, web.engine, zone_id, before)
    if request.headers.get("HX-Request"):
        return render(request, "_timeline.html", ctx)
    return render(request, "timeline.html", {**ctx, "zone_id": zone_id})


@router.get("/zones/{zone_id}/notices")
async def zone_notices_page(
    request: Request,
    zone_id: str,
    web: WebDep,
    actor: PageActor,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every copy of a zone the reader may see, 100 a page, newest first (the zone page shows
    the newest 50)."""
    try:
        await readable_zone(web, actor, zone_id)
    except (Denied, ZoneNotFound) as err:
        return error_page(request, getattr(err, "status", 404), act_error_message(err))
    ctx = await asyncio.to_thread(page_data.notices_page, web.engine, zone_id, actor, page)
    if ctx is None:
        return error_page(request, 404, f"圏域 {zone_id} が見つかりません")
    ctx["name_of"] = _name_of(ctx["state"])
    return render(request, "notices.html", ctx)


@router.post("/zones/{zone_id}/agreements")
async def draft_agreement_form(request: Request, zone_id: str, web: WebDep, actor: PageActor) -> Response:
    form = await _form(request)
    ctx = await asyncio.to_thread(page_data.zone_page, web.engine, zone_id, _today(), actor)
    perspectives = ctx["perspectives"] if ctx else []

    def build() -> A.Act:
        return DraftAgreementBody.model_validate(
            {
                "neighbour": {
                    "code": form.get("neighbour_code"),
                    "name": form.get("neighbour_name"),
                    "kind": form.get("neighbour_kind") or "town",
                },
                "initiatives": [
                    {
                        "perspective": p.value,
                        "field": form.get(f"field_{p.value}", "a"),
                        "title": form[f"initiative_{p.value}"],
                    }
                    for p in perspectives
                    if form.get(f"initiative_{p.value}")
                ],
                "drafted_on": form.get("drafted_on"),
            }
        ).act(actor)

    result, status, error, errors = await _submit(
        web,
        actor,
        zone_id,
        "draft_agreement",
        build,
        aliases={
            "neighbour.code": "neighbour_code",
            "neighbour.name": "neighbour_name",
            "neighbour": "neighbour_code",
        },
        hints={"drafted_on": ("協定案の日付",), "neighbour_code": ("との協定は既に", "1対1")},
    )
    if result is None:
        return await _zone_page(request, web, actor, zone_id, status, error=error, errors=errors, values=form)
    request.session["flash"] = result.summary
    return _see(f"/zones/{zone_id}")


# --------------------------------------------------------------------------- the inbox


@router.get("/inbox")
async def inbox_page(request: Request, web: WebDep, actor: PageActor) -> Response:
    if actor.role is not Role.municipality:
        return _see("/")
    tasks, zones = await asyncio.to_thread(inbox, web.engine, str(actor.code))
    return render(request, "inbox.html", {"tasks": tasks, "zones": zones})


async def _task_answer(
    request: Request, web: Web, actor: Actor, form: dict[str, str], submit: Callable[[], Any]
) -> Response:
    """Run the act of one inbox card. htmx gets the card back (200, so it swaps); a plain form
    gets a redirect on success, or the inbox with the refusal next to the field."""
    tasks, zones = await asyncio.to_thread(inbox, web.engine, str(actor.code))
    path = request.url.path
    task = next((t for t in tasks if t.action == path), None)
    result, status, error, errors = await submit()
    htmx = bool(request.headers.get("HX-Request"))
    if result is not None:
        if htmx:
            done = task or Task(id="task-done", kind="done", zone_id="", zone_name="", title="", action=path)
            done.done = result.summary
            return render(request, "_task.html", {"t": done})
        request.session["flash"] = f"登録しました: {result.summary}"
        return _see("/inbox")
    if task is None:  # not (or no longer) this municipality's task: say why on its own
        message = error or "; ".join(errors.values())
        if htmx:
            return HTMLResponse(f'<div class="error" role="alert">{escape(message)}</div>')
        return error_page(request, status, message)
    task.error, task.field_errors, task.values = error, errors, form
    if htmx:
        return render(request, "_task.html", {"t": task})
    return render(request, "inbox.html", {"tasks": tasks, "zones": zones}, status)


@router.post("/inbox/{zone_id}/resolutions/{neighbour}")
async def inbox_resolution(
    request: Request, zone_id: str, neighbour: str, web: WebDep, actor: PageActor
) -> Response:
    form = await _form(request)
    body = {"resolved_on": form.get("resolved_on"), "number": form.get("number")}
    return await _task_answer(
        request,
        web,
        actor,
        form,
        lambda: _submit(
            web,
            actor,
            zone_id,
            "record_resolution",
            lambda: ResolutionBody.model_validate(body).act(actor, neighbour),
            subject=neighbour,
            council=actor.code,
            hints={"resolved_on": ("議決の日付",), "number": ("議決は登録済み",)},
        ),
    )


@router.post("/inbox/{zone_id}/consultations/{code}")
async def inbox_consultation(
    request: Request, zone_id: str, code: str, web: WebDep, actor: PageActor
) -> Response:
    form = await _form(request)
    body = {k: form.get(k) for k in ("answer", "comments", "answered_on")}
    return await _task_answer(
        request,
        web,
        actor,
        form,
        lambda: _submit(
            web,
            actor,
            zone_id,
            "answer_consultation",
            lambda: ConsultationBody.model_validate(body).act(actor, code),
            subject=code,
            hints={"comments": ("意見を記入",), "answered_on": ("回答の日付",)},
        ),
    )


@router.post("/inbox/{zone_id}/kpis/{kpi_id}/{fy}")
async def inbox_kpi(
    request: Request, zone_id: str, kpi_id: str, fy: str, web: WebDep, actor: PageActor
) -> Response:
    form = await _form(request)
    body = {"fy": fy, "value": form.get("value"), "estimate": bool(form.get("estimate"))}
    return await _task_answer(
        request,
        web,
        actor,
        form,
        lambda: _submit(
            web,
            actor,
            zone_id,
            "record_kpi_actuals",
            lambda: ActualBody.model_validate(body).act(actor, kpi_id),
            hints={"value": ("値", "KPI")},
        ),
    )
