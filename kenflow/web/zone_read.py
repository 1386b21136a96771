"""GET /api/zones/{id}, rendered once per change of the zone and kind of reader.

The zone is the most read resource: everyone in a zone watches it, and each read parsed the
zone's state (tens of KB after some years), built an ORM object per timeline row and encoded
the lot, ~10 ms of CPU for a ten-year zone. What a body shows comes from the zone's row (its
columns and its state's JSON), its newest audit rows and its copies still to go (notice rows
not yet delivered). So every read first fetches the row, the newest audit row's id and how
many of its copies are pending and failed, one indexed query, and fingerprints them; a body
already rendered from the same fingerprint, for the same kind of reader and the same day, is
sent again as it was. Not the version alone: a delivery that settles changes the copies
without moving it, and a refusal (seen by the ministry) is an audit row only. The
fingerprint is taken on every request, so a kept body is never older than the read model,
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
from kenflow.db.tables import AuditRow, NoticeRow, ZoneRow
from kenflow.policy import ZoneFacts
from models.actor import Actor, Role
from models.notice import Notice, NoticeStatus
from models.read_rows import stored_state

from . import reads, views

MAX_BYTES = 32 * 1024 * 1024  # bodies kept per web process (a ten-year zone's is ~40 KB)

_BODY = TypeAdapter(dict[str, Any])  # FastAPI's own encoding of the dict this route returned
_ZONE = ZoneRow.__table__  # type: ignore[attr-defined]
_HEAD = select(func.max(AuditRow.id)).where(AuditRow.zone_id == bindparam("zone_id")).scalar_subquery()


def _copies(status: NoticeStatus) -> Any:
    """How many of the zone's copies have `status`: the copies still to go come from the notice
    table (Q.unsettled_notices), which the sender updates without the zone projecting."""
    zone, of = NoticeRow.zone_id == bindparam("zone_id"), NoticeRow.status == status.value
    return select(func.count()).where(zone, of).scalar_subquery().label(f"copies_{status.value}")


_STAMPED = select(
    _ZONE, _HEAD.label("audit_head"), _copies(NoticeStatus.pending), _copies(NoticeStatus.failed)
).where(_ZONE.c.id == bindparam("zone_id"))


def fingerprint(row: Any) -> bytes:
    """Of every column of the zone's row, its newest audit row id and its copies' counts."""
    return hashlib.blake2b("\x1f".join(map(str, row)).encode(), digest_size=16).digest()


@dataclass(frozen=True)
class ZoneBody:
    """A rendered zone read: the policy's facts (checked per request) and the JSON body."""

    facts: ZoneFacts
    body: bytes
    etag: str


class ZoneReads:
    """Rendered zone bodies of one web process, by (zone, fingerprint, page size, reader kind,
    day). Safe to call from the thread pool."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._kept: LRUCache[tuple[Any, ...], ZoneBody] = LRUCache(
            maxsize=max_bytes, getsizeof=lambda b: len(b.body) + 1024
        )
        self._lock = threading.Lock()

    def read(self, engine: Engine, zone_id: str, actor: Actor, limit: int, today: date) -> ZoneBody | None:
        """The zone's body for `actor`, or None for an unknown zone."""
        ministry = actor.role is Role.ministry  # only the ministry reads refusals
        with Session(engine, expire_on_commit=False) as s:
            row = s.execute(_STAMPED, {"zone_id": zone_id}).first()
            if row is None:
                return None
            key = (zone_id, fingerprint(row), limit, ministry, reads.own_recipient(actor), today)
            with self._lock:
                kept = self._kept.get(key)
            if kept is not None:
                return kept
            # Read after the row: the audit rows rendered are at least as new as the key says.
            facts = reads.zone_facts_of(s, row)
            audit = Q.zone_timeline(s, zone_id, ministry, limit=limit)
            notices = Q.unsettled_notices(s, [zone_id])[zone_id]
        body = render(zone_id, row, audit, notices, actor, limit, today)
        made = ZoneBody(facts, body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        if len(body) < MAX_BYTES // 8:
            with self._lock:
                self._kept[key] = made
        return made


def render(
    zone_id: str,
    row: Any,
    audit: list[AuditRow],
    notices: list[Notice],
    actor: Actor,
    limit: int,
    today: date,
) -> bytes:
    """The body of GET /api/zones/{id}."""
    state = stored_state(row.state_zlib)
    state.notices = notices
    accepted = [a for a in audit if a.result == "accepted"]
    out: dict[str, Any] = {
        "zone": views.zone_summary(row),
        "state": reads.state_for(actor, state),
        "timeline": [views.audit_entry(a) for a in accepted],
        "timeline_total": Q.accepted_count(accepted),
        "timeline_older": views.older_link(zone_id, accepted, limit),
        "overdue": [o.__dict__ for o in reads.overdue_items(state, today)],
    }
    if actor.role is Role.ministry:  # the newest refusals, as many as the page size
        out["refusals"] = [views.audit_entry(a) for a in audit if a.result != "accepted"]
    return _BODY.dump_json(out)
