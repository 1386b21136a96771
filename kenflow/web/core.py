"""The one path every act takes from the web, whether it came as JSON or as a form:
read-model lookup (404) → policy (403) → ZoneService (409 refused, 503 Temporal down).

Keeping it in one place is what makes the pages and the API refuse the same things with the
same words, and what makes every refusal land in the audit table exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Engine
from temporalio.client import Client

from kenflow.auth import actor_for_hash
from kenflow.db.audit import record_refusal
from kenflow.policy import Decision, may_act, may_act_as
from kenflow.service import Refused, ZoneNotFound, ZoneService
from kenflow.settings import Settings
from models import acts as A
from models.actor import Actor, Role

from .reads import zone_facts
from .zone_read import ZoneReads

log = logging.getLogger(__name__)

# A request without a usable token has no actor; its refusal is still audited, under this name.
ANONYMOUS = Actor(role=Role.system, name="未認証の要求 (unauthenticated)")


class Denied(Exception):
    """401 or 403, with the policy's bilingual message."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.status = decision.status
        self.message = decision.message


class TemporalUnavailable(Exception):
    """Temporal cannot be reached; the API answers 503 and the pages say so."""


TEMPORAL_DOWN = (
    "ワークフローサーバー(Temporal)に接続できません。しばらくしてから再度お試しください"
    " (the workflow server is unavailable; try again later)"
)


@dataclass
class Web:
    """Everything a request needs, kept on app.state.web."""

    settings: Settings
    engine: Engine
    client: Client | None = None
    _service: ZoneService | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _actors: TTLCache[str, Actor] | None = None
    zone_reads: ZoneReads = field(default_factory=ZoneReads)

    async def actor(self, token_hash: str) -> Actor | None:
        """The actor of a token's hash, from the database at most once per
        `token_cache_seconds` (every request is authenticated, and under load that lookup and
        its thread hop were a tenth of the web process's CPU). Only found actors are kept, so a
        new token works at once; a revoked one stops working within that time."""
        if self._actors is None and self.settings.token_cache_seconds > 0:
            self._actors = TTLCache(maxsize=10_000, ttl=self.settings.token_cache_seconds)
        if self._actors is not None and (hit := self._actors.get(token_hash)) is not None:
            return hit
        found = await asyncio.to_thread(actor_for_hash, self.engine, token_hash)
        if found is not None and self._actors is not None:
            self._actors[token_hash] = found
        return found

    async def service(self) -> ZoneService:
        """The ZoneService, connecting to Temporal on first use if the lifespan could not."""
        if self._service is not None:
            return self._service
        async with self._lock:
            if self._service is None:
                try:
                    from kenflow.temporal import connect

                    self.client = await asyncio.wait_for(connect(self.settings), timeout=5)
                except Exception as err:  # noqa: BLE001 — any failure to connect is "unavailable"
                    log.warning("Temporal unavailable: %s", err)
                    raise TemporalUnavailable(TEMPORAL_DOWN) from None
                self._service = ZoneService(self.client, self.settings.task_queue)
        return self._service

    def use_client(self, client: Client) -> None:
        self.client = client
        self._service = ZoneService(client, self.settings.task_queue)

    async def audit(self, zone_id: str | None, act: str, actor: Actor | None, reason: str) -> None:
        """Record a refusal; never lets an audit failure turn a 4xx into a 5xx."""
        try:
            await asyncio.to_thread(record_refusal, self.engine, zone_id, act, actor or ANONYMOUS, reason)
        except Exception:  # noqa: BLE001
            log.exception("could not audit a refusal of %s on %s", act, zone_id)


async def run_act(
    web: Web,
    actor: Actor,
    zone_id: str,
    act_name: str,
    build: Callable[[], A.Act],
    *,
    subject: str | None = None,
    council: str | None = None,
    update_id: str | None = None,
) -> A.ActResult:
    """Check and send one act. Raises ZoneNotFound, Denied or Refused (each audited first)."""
    facts = await asyncio.to_thread(zone_facts, web.engine, zone_id)
    try:
        if facts is None:
            raise ZoneNotFound(f"圏域 {zone_id} が見つかりません (zone {zone_id} not found)")
        decision = may_act(actor, act_name, facts, subject)
        if decision and council is not None:
            decision = may_act_as(actor, council)
        if not decision:
            raise Denied(decision)
        act = build()
        service = await web.service()
        return await service.act(zone_id, act, update_id=update_id)
    except (Denied, Refused) as err:
        await web.audit(zone_id, act_name, actor, str(err))
        raise


def act_error_message(err: Exception) -> str:
    """The clerk's message for any refusal the act path raises."""
    if isinstance(err, Denied):
        return err.message
    return str(err)


def pydantic_messages(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validation errors without their input (which may be megabytes) and with JSON-safe ctx."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        out.append(
            {"loc": loc, "msg": plain_ja(e), "msg_en": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        )
    return out


_PLAIN: dict[str, str] = {
    "missing": "入力してください",
    "string_too_short": "入力してください",
    "string_too_long": "長すぎます",
    "too_long": "件数が多すぎます",
    "too_short": "1件以上入力してください",
    "date_from_datetime_parsing": "日付は 2024-04-01 の形式で入力してください",
    "date_parsing": "日付は 2024-04-01 の形式で入力してください",
    "date_type": "日付は 2024-04-01 の形式で入力してください",
    "float_parsing": "数値で入力してください",
    "int_parsing": "整数で入力してください",
    "enum": "選択肢から選んでください",
    "literal_error": "選択肢から選んでください",
    "greater_than_equal": "値が小さすぎます",
    "less_than_equal": "値が大きすぎます",
    "string_pattern_mismatch": "形式が正しくありません",
}


def plain_ja(error: dict[str, Any]) -> str:
    """One pydantic error in words a clerk understands; our own validators already speak Japanese."""
    kind = str(error.get("type", ""))
    msg = str(error.get("msg", ""))
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return _PLAIN.get(kind, msg)


def summary_ja(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:10]:
        where = ".".join(p for p in e["loc"] if p not in ("body", "query", "path")) or "入力"
        parts.append(f"{where}: {e['msg']}")
    more = f" ほか{len(errors) - 10}件" if len(errors) > 10 else ""
    return "入力内容に誤りがあります (invalid input): " + " / ".join(parts) + more
