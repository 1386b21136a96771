"""One POST per act. Each route only maps path + body to an act; core.run_act does the rest.

Route function names are the act names of the timeline (draft_agreement, ...), which is what
the audit table records for a refusal. An `Idempotency-Key` header becomes the Update id, so a
client retrying after a timeout cannot record an act twice.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request

from models import acts as A
from models.actor import Actor
from models.codes import normalize_municipality_code
from models.era import parse_fiscal_year

from .bodies import (
    AbolitionBody,
    ActionBody,
    CheckBody,
    ConsultationBody,
    CouncilReviewBody,
    DeclareBody,
    DraftAgreementBody,
    DraftVisionBody,
    OverrideBody,
    PlanBody,
    PolicyBody,
    ProjectsBody,
    PublicationBody,
    ResolutionBody,
)
from .core import Web, run_act
from .deps import ApiActor, WebDep

router = APIRouter(prefix="/api/zones/{zone_id}")


async def _act(
    request: Request,
    web: Web,
    actor: Actor,
    zone_id: str,
    name: str,
    build: Callable[[], A.Act],
    subject: str | None = None,
    council: str | None = None,
) -> A.ActResult:
    key = request.headers.get("idempotency-key")
    update_id = f"{name}:{key[:100]}" if key else None
    return await run_act(
        web, actor, zone_id, name, build, subject=subject, council=council, update_id=update_id
    )


def _code(raw: str) -> str:
    return normalize_municipality_code(raw)


def _fy(raw: str) -> int:
    return parse_fiscal_year(raw)


@router.post("/declaration")
async def declare(
    zone_id: str, body: DeclareBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """中心市宣言 for a zone started without one (extra route)."""
    return await _act(request, web, actor, zone_id, "declare", lambda: body.act(actor))


@router.post("/eligibility-override")
async def override_eligibility(
    zone_id: str, body: OverrideBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """The ministry admits a central city that misses a requirement, with its reason (extra route)."""
    return await _act(request, web, actor, zone_id, "override_eligibility", lambda: body.act(actor))


@router.post("/agreements")
async def draft_agreement(
    zone_id: str, body: DraftAgreementBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    return await _act(request, web, actor, zone_id, "draft_agreement", lambda: body.act(actor))


@router.post("/agreements/{municipality_code}/resolutions")
async def record_resolution(
    zone_id: str, municipality_code: str, body: ResolutionBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """A council's resolution on the agreement with `municipality_code` (the neighbour)."""
    code = _code(municipality_code)
    return await _act(
        request,
        web,
        actor,
        zone_id,
        "record_resolution",
        lambda: body.act(actor, code),
        subject=code,
        council=body.council(actor),
    )


@router.post("/agreements/{municipality_code}/abolition")
async def notify_abolition(
    zone_id: str, municipality_code: str, body: AbolitionBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    code = _code(municipality_code)
    return await _act(
        request,
        web,
        actor,
        zone_id,
        "notify_abolition",
        lambda: body.act(actor, code),
        subject=code,
        council=body.council(actor),
    )


@router.post("/policy")
async def adopt_policy(
    zone_id: str, body: PolicyBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """形成方針 of a merged city forming a zone alone (extra route)."""
    hub = zone_id.rsplit("-", 1)[-1]
    return await _act(request, web, actor, zone_id, "adopt_policy", lambda: body.act(actor, hub))


@router.post("/vision")
async def draft_vision(
    zone_id: str, body: DraftVisionBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """Draft the vision, or a revision of the published one (`revision: true`)."""
    return await _act(request, web, actor, zone_id, "draft_vision", lambda: body.act(actor))


@router.post("/vision/council-reviews")
async def record_council_review(
    zone_id: str, body: CouncilReviewBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    return await _act(request, web, actor, zone_id, "record_council_review", lambda: body.act(actor))


@router.post("/vision/consultations/{municipality_code}")
async def answer_consultation(
    zone_id: str,
    municipality_code: str,
    body: ConsultationBody,
    request: Request,
    web: WebDep,
    actor: ApiActor,
) -> A.ActResult:
    code = _code(municipality_code)
    return await _act(
        request, web, actor, zone_id, "answer_consultation", lambda: body.act(actor, code), subject=code
    )


@router.post("/vision/publication")
async def publish_vision(
    zone_id: str, body: PublicationBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    return await _act(request, web, actor, zone_id, "publish_vision", lambda: body.act(actor))


@router.post("/fiscal-years/{fy}/review")
async def review_fiscal_year(
    zone_id: str, fy: str, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """Open a fiscal year's PDCA turn (the calendar does this on April 1; this is by hand)."""
    year = _fy(fy)
    return await _act(
        request, web, actor, zone_id, "review_fiscal_year", lambda: A.ReviewFiscalYear(actor=actor, fy=year)
    )


@router.post("/fiscal-years/{fy}/plan")
async def record_plan(
    zone_id: str, fy: str, body: PlanBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    year = _fy(fy)
    return await _act(request, web, actor, zone_id, "record_plan", lambda: body.act(actor, year))


@router.post("/fiscal-years/{fy}/projects")
async def record_projects(
    zone_id: str, fy: str, body: ProjectsBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    """DO: how each initiative's projects went (extra route)."""
    year = _fy(fy)
    return await _act(request, web, actor, zone_id, "record_projects", lambda: body.act(actor, year))


@router.post("/fiscal-years/{fy}/check")
async def complete_check(
    zone_id: str, fy: str, body: CheckBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    year = _fy(fy)
    return await _act(request, web, actor, zone_id, "complete_check", lambda: body.act(actor, year))


@router.post("/fiscal-years/{fy}/action")
async def complete_action(
    zone_id: str, fy: str, body: ActionBody, request: Request, web: WebDep, actor: ApiActor
) -> A.ActResult:
    year = _fy(fy)
    return await _act(request, web, actor, zone_id, "complete_action", lambda: body.act(actor, year))
