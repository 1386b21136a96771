"""The read model's rows, built from a zone's state: pure functions, no database.

The same rows are built by the writer from a ProjectionInput (kenflow/db/projection.py) and by
the zone workflow itself for a ProjectionRows (PROJECTION_ROWS_PATCH in workflows/zone.py), so
the worker's projection activity has no zone state to load: decoding the state and merging it
with the sections the read model kept cost more than the write itself.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict

from .notice import Notice, NoticeStatus
from .zone import TIMELINE_FIELDS, TimelineEntry, ZoneState

Row = dict[str, Any]


def zone_columns(state: ZoneState) -> Row:
    """The zone row's columns that come from the state (the writer adds version, updated_at,
    digest and state_zlib)."""
    vision, published = state.vision, state.published_vision
    checked = [r for r in state.reviews.values() if r.check_on is not None]
    latest_check = max(checked, key=lambda r: r.fy) if checked else None
    in_force = published or vision
    return {
        "id": state.zone_id,
        "name": state.name,
        "programme": state.programme.value,
        "phase": state.phase.value,
        "central_codes": ",".join(state.central_codes),
        "prefecture_codes": "," + ",".join(state.prefecture_codes()) + ",",
        "single_city": state.single_city,
        "declared_on": state.declaration.declared_on if state.declaration else None,
        "formed_on": state.formed_on,
        "ended_on": state.ended_on,
        "vision_version": vision.version if vision else None,
        "vision_status": vision.status.value if vision else None,
        "vision_period_end_fy": in_force.period_end_fy if in_force else None,
        "current_fy": state.current_fy,
        "kpi_behind": len(latest_check.highlighted) if latest_check else 0,
        "notices_failed": sum(1 for n in state.notices if n.status is NoticeStatus.failed),
    }


def member_rows(state: ZoneState) -> list[Row]:
    rows: dict[str, Row] = {}
    for m in state.central_cities:
        rows[m.code] = {
            "zone_id": state.zone_id,
            "municipality_code": m.code,
            "name": m.name,
            "role": "central",
            "prefecture_code": m.prefecture_code,
            "agreement_status": None,
        }
    for code, ag in state.agreements.items():
        if code not in rows:
            rows[code] = {
                "zone_id": state.zone_id,
                "municipality_code": code,
                "name": ag.neighbour.name,
                "role": "neighbour",
                "prefecture_code": ag.neighbour.prefecture_code,
                "agreement_status": ag.status.value,
            }
    return list(rows.values())


def agreement_rows(state: ZoneState) -> list[Row]:
    return [
        {
            "zone_id": state.zone_id,
            "neighbour_code": code,
            "neighbour_name": ag.neighbour.name,
            "hub_code": ag.hub_code,
            "title": ag.title,
            "status": ag.status.value,
            "version": ag.version,
            "drafted_on": ag.drafted_on,
            "concluded_on": ag.concluded_on,
            "abolition_effective_on": ag.abolition.effective_on if ag.abolition else None,
            "ended_on": ag.ended_on,
            "cross_prefecture": ag.neighbour.prefecture_code != ag.hub_code[:2],
        }
        for code, ag in state.agreements.items()
    ]


def vision_rows(state: ZoneState) -> list[Row]:
    rows = {
        v.version: {
            "zone_id": state.zone_id,
            "version": v.version,
            "title": v.title,
            "status": v.status.value,
            "revision": v.revision,
            "drafted_on": v.drafted_on,
            "published_on": v.published_on,
            "period_start_fy": v.period_start_fy,
            "period_end_fy": v.period_end_fy,
        }
        for v in state.visions
    }
    return list(rows.values())


def kpi_rows(state: ZoneState) -> list[Row]:
    out = []
    for k in state.kpis.values():
        t = k.current
        out.append(
            {
                "zone_id": state.zone_id,
                "kpi_id": k.id,
                "name": k.name,
                "perspective": k.perspective.value,
                "field": k.field,
                "unit": k.unit,
                "kind": k.kind.value,
                "target_version": t.version,
                "baseline_value": t.baseline.value,
                "baseline_fy": t.baseline.fy,
                "target_value": t.target.value,
                "target_fy": t.target.fy,
            }
        )
    return out


def evaluation_rows(state: ZoneState) -> list[Row]:
    rows: dict[tuple[str, int], Row] = {}
    for review in state.reviews.values():
        for e in review.evaluations:
            rows[(e.kpi_id, e.fy)] = {
                "zone_id": state.zone_id,
                "kpi_id": e.kpi_id,
                "fy": e.fy,
                "target_version": e.target_version,
                "actual": e.actual,
                "estimate": e.estimate,
                "achievement_rate": e.achievement_rate,
                "expected_value": e.expected_value,
                "status": e.status.value,
                "grade": e.grade,
            }
    return list(rows.values())


def audit_rows(zone_id: str, entries: Iterable[TimelineEntry]) -> list[Row]:
    rows = {
        e.seq: {
            "zone_id": zone_id,
            "seq": e.seq,
            "at": e.at,
            "on": e.on,
            "act": e.act,
            "actor_role": e.actor.role.value,
            "actor_code": e.actor.code,
            "actor_name": e.actor.name,
            "summary": e.summary,
            "result": "accepted",
        }
        for e in entries
    }
    return list(rows.values())


def notice_row(n: Notice) -> Row:
    return {
        "key": n.key,
        "zone_id": n.zone_id,
        "document": n.document,
        "version": n.version,
        "recipient": n.recipient,
        "kind": n.kind.value,
        "subject": n.subject,
        "body": n.body,
        "created_at": n.created_at,
        "status": n.status.value,
        "failure": n.failure,
        "delivered_at": None,
        "attempts": 0,
    }


def notice_rows(state: ZoneState, sent: dict[str, str] | None = None) -> list[Row]:
    """Rows of the notices still in the state (pending or failed), but those in `sent` with
    the same status: the read model already holds them as they are."""
    rows = {
        n.key: notice_row(n)
        for n in state.notices
        if n.status is not NoticeStatus.delivered and (sent is None or sent.get(n.key) != n.status.value)
    }
    return list(rows.values())


def notice_statuses(state: ZoneState) -> dict[str, str]:
    """What notice_rows would send of the state with nothing sent before, as `sent`."""
    return {n.key: n.status.value for n in state.notices if n.status is not NoticeStatus.delivered}


# The child tables, each rewritten whole when its rows change.
CHILD_ROWS: dict[str, Callable[[ZoneState], list[Row]]] = {
    "member": member_rows,
    "agreement": agreement_rows,
    "vision": vision_rows,
    "kpi": kpi_rows,
    "kpi_evaluation": evaluation_rows,
}


def child_rows(state: ZoneState) -> dict[str, list[Row]]:
    return {name: rows(state) for name, rows in CHILD_ROWS.items()}


def rows_digest(rows: list[Row]) -> str:
    """The digest the read model keeps of one child table's rows. Only equality matters: the
    zone and the writer compare it with the one stored, so it must change when the rows do."""
    return hashlib.blake2b(pydantic_core.to_json(rows), digest_size=12).hexdigest()


def child_digests(children: dict[str, list[Row]]) -> dict[str, str]:
    """One digest per child table, of its rows (child_rows or some of them)."""
    return {name: rows_digest(rows) for name, rows in children.items()}


# What the zone row's state leaves out, each kept in a table of its own: the timeline (audit)
# and the copies still to go (notice; kenflow.db.queries.unsettled_notices puts them back).
# While a forming zone's deliveries lag, its copies were most of the state it sent with every
# act: 16 of 24 KB after a vision's publication (bench/README item 23).
NOT_STORED = TIMELINE_FIELDS | {"notices"}


def state_json(state: ZoneState) -> str:
    """The state as the zone row keeps it (NOT_STORED left out)."""
    return state.model_dump_json(exclude=NOT_STORED)


def state_zlib(state: ZoneState) -> bytes:
    """state_json compressed, as the zone row stores it and the zone sends it (level 1: the
    workflow compresses on every act, and the higher levels saved little on this JSON). The
    serializer's bytes, not model_dump_json's text encoded again: the same bytes, a fifth sooner."""
    return zlib.compress(ZoneState.__pydantic_serializer__.to_json(state, exclude=NOT_STORED), 1)


def stored_json(blob: bytes) -> bytes:
    """The JSON of a zone row's `state_zlib`, for a model's model_validate_json."""
    return zlib.decompress(blob)


def stored_state(blob: bytes) -> ZoneState:
    """The state a zone row's `state_zlib` holds, without what NOT_STORED leaves out (rows
    written before notices were left out still hold the copies of their day: readers replace
    them with kenflow.db.queries.unsettled_notices)."""
    return ZoneState.model_validate_json(stored_json(blob))


class ProjectionRows(BaseModel):
    """What a zone sends its read model since PROJECTION_ROWS_PATCH: the rows themselves.

    `children` holds the child tables whose digest changed since the zone's last completed
    projection (all of them on a run's first); the writer raises BaseMissing when the read
    model's digest of an omitted one differs, and the zone then sends them all. Dates and
    datetimes travel as ISO text; the writer restores them by the columns' types.

    `notices` holds, since NOTICES_ONCE_PATCH, only the copies that are new or changed status
    since the zone's last completed projection in this run: while deliveries lag (formation
    sends dozens at once), every act re-sent every pending copy, ~570 bytes each, and the writer
    upserted them all again. The read model cannot lose one it was sent: the delivery records
    its notice's row too, before any attempt.

    The state's JSON travels zlib-compressed (21 KB -> 3 KB after ten fiscal years): the worker
    keeps every local activity's encoded input until its workflow run ends (measured: 76 MB of
    inputs held 90 MB of RSS; bench/README item 12), and a zone's run lasts a fiscal year."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    zone_id: str
    version: int
    zone: Row
    state_json_zlib: bytes
    digests: dict[str, str]
    children: dict[str, list[Row]]
    audit: list[Row]
    notices: list[Row]
    updated_at: datetime | None  # the last new timeline entry's time; None: the writer's clock


def projection_rows(
    state: ZoneState,
    new_entries: list[TimelineEntry],
    sent: dict[str, str] | None,
    sent_notices: dict[str, str] | None = None,
    sent_rows: dict[str, list[Row]] | None = None,
) -> ProjectionRows:
    """The rows of `state`; child tables whose digest is in `sent` unchanged are left out, and
    notices whose status is in `sent_notices` unchanged (notice_statuses of an earlier state).

    With `sent_rows`, the rows behind `sent`, a table whose rows equal them keeps its digest
    unhashed: building and comparing all five tables costs less than serializing any state
    section to digest it, and only the tables an act changed are serialized and hashed."""
    built = child_rows(state)
    if sent is not None and sent_rows is not None:
        children = {n: r for n, r in built.items() if n not in sent or sent_rows.get(n) != r}
        digests = {n: rows_digest(children[n]) if n in children else sent[n] for n in built}
    else:
        digests = child_digests(built)
        children = {n: r for n, r in built.items() if sent is None or sent.get(n) != digests[n]}
    return ProjectionRows(
        zone_id=state.zone_id,
        version=state.version,
        zone=zone_columns(state),
        state_json_zlib=state_zlib(state),
        digests=digests,
        children=children,
        audit=audit_rows(state.zone_id, new_entries),
        notices=notice_rows(state, sent_notices),
        updated_at=new_entries[-1].at if new_entries else None,
    )
