"""GET /api/zones/{id}, rendered once per zone version and kind of reader.

The zone is the most read resource: everyone in a zone watches it, and each read parsed the
zone's state (tens of KB after some years), built an ORM object per timeline row and encoded
the lot, ~10 ms of CPU for a ten-year zone. A zone changes only when an act is accepted (the
projection moves its `version`) or refused (a refusal's audit row, which the ministry sees).
So every read first asks the read model for that stamp, one small query; a body already
rendered for the same stamp, the same kind of reader and the same day is sent again as it
was. The stamp is read on every request, so a kept body is never older than the read model,
and each web process keeps its own (nothing to invalidate across processes).

The body's ETag lets a browser or a poll ask again with If-None-Match and get a 304.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

from cachetools import LRUCache
from pydantic import TypeAdapter
from sqlalchemy import Engine, bindparam, func, select
from sqlmodel import Session

from kenflow.db import queries as Q
from kenflow.db.tables import AuditRow, ZoneRow
from kenflow.policy import ZoneFacts
from models.actor import Actor, Role
from models.zone import ZoneState

from . import reads, views

MAX_BYTES = 32 * 1024 * 1024  # bodies kept per web process (a ten-year zone's is ~40 KB)

_BODY = TypeAdapter(dict[str, Any])  # FastAPI's own encoding of the dict this route returned
_HEAD = select(func.max(AuditRow.id)).where(AuditRow.zone_id == bindparam("zone_id")).scalar_subquery()
_STAMP = select(ZoneRow.version, _HEAD).where(ZoneRow.id == bindparam("zone_id"))


@dataclass(frozen=True)
class ZoneBody:
    """A rendered zone read: the policy's facts (checked per request) and the JSON body."""

    facts: ZoneFacts
    body: bytes
    etag: str


class ZoneReads:
    """Rendered zone bodies of one web process, by (zone, version, newest audit row, page size,
    reader kind, day). Safe to call from the thread pool."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._kept: LRUCache[tuple[Any, ...], ZoneBody] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda b: len(b.body) + 1024
        )
        self._lock = threading.Lock()

    def read(self, engine: Engine, zone_id: str, actor: Actor, limit: int, today: date) -> ZoneBody | None:
        """The zone's body for `actor`, or None for an unknown zone."""
        ministry = actor.role is Role.ministry  # only the ministry reads refusals
        with Session(engine, expire_on_commit=False) as s:
            stamp = s.execute(_STAMP, {"zone_id": zone_id}).first()
            if stamp is None:
                return None
            key = (zone_id, stamp[0], stamp[1], limit, ministry, reads.own_recipient(actor), today)
            with self._lock:
                kept = self._kept.get(key)
            if kept is not None:
                return kept
            # Read after the stamp: what is rendered is at least as new as the key says.
            row = s.get(ZoneRow, zone_id)
            if row is None:  # removed between the two statements
                return None
            facts = reads.zone_facts_of(s, row)
            audit = Q.zone_timeline(s, zone_id, ministry, limit=limit)
        body = render(zone_id, row, audit, actor, limit, today)
        made = ZoneBody(facts, body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        if len(body) < MAX_BYTES // 8:
            with self._lock:
                self._kept[key] = made
        return made


def render(zone_id: str, row: ZoneRow, audit: list[AuditRow], actor: Actor, limit: int, today: date) -> bytes:
    """The body of GET /api/zones/{id}."""
    state = ZoneState.model_validate_json(row.state_json)
    accepted = [a for a in audit if a.result == "accepted"]
    before = Q.older_than(accepted)
    out: dict[str, Any] = {
        "zone": views.zone_summary(row),
        "state": reads.state_for(actor, state),
        "timeline": [views.audit_entry(a) for a in accepted],
        "timeline_total": max((a.seq or 0 for a in accepted), default=0),
        "timeline_older": f"/api/zones/{zone_id}/timeline?before={before}&limit={limit}" if before else None,
        "overdue": [o.__dict__ for o in reads.overdue_items(state, today)],
    }
    if actor.role is Role.ministry:  # the newest refusals, as many as the page size
        out["refusals"] = [views.audit_entry(a) for a in audit if a.result != "accepted"]
    return _BODY.dump_json(out)
