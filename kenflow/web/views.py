"""JSON shapes of read-model rows, with 和暦 next to every ISO date so a client can show
dates the way clerks write them without its own era table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row

from kenflow.db import queries as Q
from kenflow.db.tables import AuditRow, DeliveryAttemptRow, NoticeRow, ZoneRow
from models.era import format_date_ja, format_fiscal_year
from models.programme import Programme
from models.zone import PHASE_JA, Phase


def ja(d: date | datetime | None) -> str | None:
    return format_date_ja(d) if d is not None else None


def fy_ja(fy: int | None) -> str | None:
    return format_fiscal_year(fy) if fy is not None else None


def zone_summary(z: ZoneRow | Row[Any]) -> dict[str, Any]:
    """Of the ORM row, or of a Core row of the zone table's columns (kenflow/web/zone_read.py)."""
    return {
        "id": z.id,
        "name": z.name,
        "programme": z.programme,
        "programme_ja": Programme(z.programme).ja,
        "phase": z.phase,
        "phase_ja": PHASE_JA[Phase(z.phase)],
        "central_codes": z.central_codes.split(","),
        "prefecture_codes": [p for p in z.prefecture_codes.split(",") if p],
        "single_city": z.single_city,
        "declared_on": z.declared_on,
        "declared_on_ja": ja(z.declared_on),
        "formed_on": z.formed_on,
        "formed_on_ja": ja(z.formed_on),
        "ended_on": z.ended_on,
        "vision_status": z.vision_status,
        "vision_version": z.vision_version,
        "vision_period_end_fy": z.vision_period_end_fy,
        "vision_period_end_fy_ja": fy_ja(z.vision_period_end_fy),
        "current_fy": z.current_fy,
        "current_fy_ja": fy_ja(z.current_fy),
        "kpi_behind": z.kpi_behind,
        "notices_failed": z.notices_failed,
        "version": z.version,
        "updated_at": z.updated_at,
    }


def older_link(zone_id: str, entries: Sequence[AuditRow], limit: int) -> str | None:
    """The URL of the timeline page before these entries (oldest first), if there is one."""
    before = Q.older_than(entries)
    return f"/api/zones/{zone_id}/timeline?before={before}&limit={limit}" if before else None


def audit_entry(a: AuditRow) -> dict[str, Any]:
    return {
        "seq": a.seq,
        "at": a.at,
        "at_ja": ja(a.at),
        "on": a.on,
        "on_ja": ja(a.on),
        "act": a.act,
        "actor": {"role": a.actor_role, "code": a.actor_code, "name": a.actor_name},
        "summary": a.summary,
        "result": a.result,
    }


def delivery(d: DeliveryAttemptRow) -> dict[str, Any]:
    return {
        "at": d.at,
        "at_ja": ja(d.at),
        "channel": d.channel,
        "address": d.address,
        "outcome": d.outcome,
        "detail": d.detail,
    }


def notice(n: NoticeRow, deliveries: list[DeliveryAttemptRow] | None = None) -> dict[str, Any]:
    out = {
        "key": n.key,
        "zone_id": n.zone_id,
        "document": n.document,
        "version": n.version,
        "recipient": n.recipient,
        "kind": n.kind,
        "subject": n.subject,
        "status": n.status,
        "created_at": n.created_at,
        "created_at_ja": ja(n.created_at),
        "delivered_at": n.delivered_at,
        "delivered_at_ja": ja(n.delivered_at),
        "failure": n.failure,
        "attempts": n.attempts,
    }
    if deliveries is not None:
        out["deliveries"] = [delivery(d) for d in deliveries]
    return out
