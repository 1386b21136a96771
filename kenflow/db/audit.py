"""Audit rows the workflow never sees: refused acts (and, if the caller wants, duplicates).

Accepted acts reach the audit table through the projection (one row per timeline entry). A
refused act leaves nothing in the workflow's history, by design, so the web layer records it
here; such rows carry no seq, and may name a zone that does not exist.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Engine, insert

from models.actor import Actor

from .tables import AuditRow, utcnow

MAX_SUMMARY = 4000


def act_name(act: str | BaseModel | type) -> str:
    """'draft_agreement' for DraftAgreement (an instance or the class), as the timeline names acts."""
    if isinstance(act, str):
        return act
    cls = act if isinstance(act, type) else type(act)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def record_audit(
    engine: Engine,
    zone_id: str | None,
    act: str | BaseModel | type,
    actor: Actor,
    summary: str,
    result: str,
    at: datetime | None = None,
) -> int:
    """Insert one audit row and return its id. `result` is 'refused' or 'duplicate'."""
    with engine.begin() as conn:
        row = conn.execute(
            insert(AuditRow.__table__).returning(AuditRow.__table__.c.id),  # type: ignore[attr-defined]
            {
                "zone_id": zone_id,
                "seq": None,
                "at": at or utcnow(),
                "on": None,
                "act": act_name(act),
                "actor_role": actor.role.value,
                "actor_code": actor.code,
                "actor_name": actor.name,
                "summary": summary[:MAX_SUMMARY],
                "result": result,
            },
        ).one()
    return int(row[0])


def record_refusal(
    engine: Engine, zone_id: str | None, act: str | BaseModel | type, actor: Actor, reason: str
) -> int:
    """Record a refused act with the clerk's message as its summary."""
    return record_audit(engine, zone_id, act, actor, reason, "refused")
