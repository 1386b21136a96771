"""Request dependencies: who is calling (bearer token for the API, signed session for pages)
and the read-side checks that go with it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kenflow.auth import token_hash_of
from kenflow.policy import ZoneFacts, may_read_zone, unauthenticated
from kenflow.service import ZoneNotFound
from models.actor import Actor

from .core import Denied, Web
from .reads import zone_facts

bearer = HTTPBearer(auto_error=False, description="`kenflow token issue` で発行したトークン (API token)")


async def get_web(request: Request) -> Web:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop
    on every request for an attribute lookup."""
    return request.app.state.web  # type: ignore[no-any-return]


WebDep = Annotated[Web, Depends(get_web)]


async def api_actor(
    request: Request,
    web: WebDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The actor of a bearer token; 401 (audited) without one."""
    actor = None
    if credentials is not None:
        token_hash = token_hash_of(credentials.credentials)
        actor = await web.actor(token_hash) if token_hash else None
    if actor is None:
        raise Denied(unauthenticated())
    request.state.actor = actor
    return actor


async def page_actor(request: Request, web: WebDep) -> Actor:
    """The actor of the session cookie; pages redirect to /login without one."""
    token_hash = request.session.get("token_hash") if "session" in request.scope else None
    actor = await web.actor(token_hash) if token_hash else None
    if actor is None:
        raise Denied(unauthenticated())
    request.state.actor = actor
    return actor


ApiActor = Annotated[Actor, Depends(api_actor)]
PageActor = Annotated[Actor, Depends(page_actor)]


async def readable_zone(web: Web, actor: Actor, zone_id: str, act: str = "read_zone") -> ZoneFacts:
    """404 for an unknown zone, 403 (audited) for a zone the actor may not read."""
    facts = await asyncio.to_thread(zone_facts, web.engine, zone_id)
    if facts is None:
        raise ZoneNotFound(f"圏域 {zone_id} が見つかりません (zone {zone_id} not found)")
    await check_readable(web, actor, facts, act)
    return facts


async def check_readable(web: Web, actor: Actor, facts: ZoneFacts, act: str = "read_zone") -> None:
    """403 (audited) for a zone the actor may not read."""
    decision = may_read_zone(actor, facts)
    if not decision:
        await web.audit(facts.zone_id, act, actor, decision.message)
        raise Denied(decision)
