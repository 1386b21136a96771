"""The `deliver_notice` activity: send one notice through its recipient's channel, log the
attempt, keep the notice's row current.

Temporal owns the retrying (the zone workflow's DELIVERY_RETRY); this activity makes each try
count once. A notice whose row already says 'delivered' is not sent again (a retry after a
lost completion, a replay), and a refusal that retrying cannot fix is raised as the
non-retryable `PermanentDeliveryFailure`, after the row is marked 'failed' with the reason,
which the dashboard shows as an incident.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import channels
from activities.lanes import DELIVERY_THREADS, Lane
from kenflow.db import driver, rows_together
from kenflow.db.engine import writing
from kenflow.db.projection import insert_notices
from kenflow.db.tables import DeliveryAttemptRow, NoticeRow
from kenflow.recipients import Channel, Recipient, RecipientError, parse_email_target, recipients_in
from kenflow.settings import Settings
from models.notice import BatchOutcome, DeliveryOutcome, Notice, NoticeBatch, NoticeStatus
from models.read_rows import notice_row

log = logging.getLogger(__name__)

NOTICE: sa.Table = NoticeRow.__table__  # type: ignore[attr-defined]
ATTEMPT: sa.Table = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]
# Built once: each batch of copies runs them, and building SQLAlchemy expressions per call
# cost more of the worker's GIL than executing them (bench/README item 23).
_DELIVERED = sa.select(NOTICE.c.key).where(
    NOTICE.c.key.in_(sa.bindparam("keys", expanding=True)),
    NOTICE.c.status == NoticeStatus.delivered.value,
)
_ATTEMPTS_PLUS_ONE = sa.func.coalesce(NOTICE.c.attempts, 0) + 1
PERMANENT = "PermanentDeliveryFailure"  # the type DELIVERY_RETRY lists as non-retryable
MAX_DETAIL = 2000


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryActivities:
    def __init__(self, engine: Engine, settings: Settings, lane: Lane | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.lane = lane or Lane("delivery", DELIVERY_THREADS)

    @activity.defn(name="deliver_notice")
    async def deliver_notice(self, notice: Notice) -> DeliveryOutcome:
        [tried] = await self._attempt([notice])
        if tried.outcome == "failed":
            raise ApplicationError(tried.failure or tried.detail, type=PERMANENT, non_retryable=True)
        if tried.outcome == "retry":
            assert tried.error is not None
            raise tried.error  # Temporal retries it with DELIVERY_RETRY's backoff
        return tried.result()

    @activity.defn(name="deliver_notices")
    async def deliver_notices(self, batch: NoticeBatch) -> BatchOutcome:
        """Every notice of the batch at once, each attempted and recorded as deliver_notice
        does, with one look-up and one transaction for the lot; this activity itself never
        fails for a notice: one that could not go now comes back pending and the zone retries
        it alone (deliver_notice, with backoff)."""
        try:
            tried = await self._attempt(batch.notices)
        except Exception as err:  # noqa: BLE001 — the look-up or the record failed: all go alone
            detail = f"{type(err).__name__}: {err}"[:MAX_DETAIL]
            return BatchOutcome(
                outcomes=[
                    DeliveryOutcome(key=n.key, status=NoticeStatus.pending, detail=detail)
                    for n in batch.notices
                ]
            )
        return BatchOutcome(outcomes=[t.result() for t in tried])

    async def _attempt(self, notices: list[Notice]) -> list[_Attempt]:
        """Send each notice not yet delivered through its recipient's channel, then record
        every attempt and the notices' new states in one transaction (a publication sends nine
        copies at once: one look-up and one write, not nine of each)."""
        n_try = activity.info().attempt
        recipients, delivered = await self.lane.run(self._look_up, notices)
        plans: list[_Attempt] = []
        for n in notices:
            recipient = recipients.get(n.recipient)
            channel = recipient.channel.value if recipient else self.settings.default_channel
            address = self._address(n, channel, recipient.address if recipient else None)
            plans.append(_Attempt(n, channel, address, n_try))
        to_file = [p for p in plans if p.notice.key not in delivered and p.channel == Channel.file.value]
        if to_file:  # one thread hop for every outbox file of the batch
            await self.lane.run(_write_files, to_file)
        await asyncio.gather(
            *(
                self._send(p)
                for p in plans
                if p.notice.key not in delivered and p.channel != Channel.file.value
            )
        )
        for p in plans:
            if p.notice.key in delivered:
                p.outcome, p.detail = "skipped_duplicate", "already delivered; not sent again"
            elif p.outcome == "failed":
                log.warning("notice %s permanently failed: %s", p.notice.key, p.failure)
        await self.lane.run(self._record, plans)
        return plans

    def _address(self, notice: Notice, channel: str, address: str | None) -> str:
        """The registered address; for the file channel without one, the outbox directory."""
        if address:
            return address
        if channel == Channel.file.value:
            return str(self.settings.outbox_dir / channels.safe_name(notice.recipient))
        return ""

    # ------------------------------------------------------------------ channels

    async def _send(self, plan: _Attempt) -> None:
        """Send one notice by e-mail or webhook (or an unknown channel's refusal) and note the
        outcome on `plan`; never raises."""
        try:
            plan.delivered(await self._send_now(plan.notice, plan.channel, plan.address))
        except Exception as err:  # noqa: BLE001 — noted on the plan, recorded with the rest
            plan.refused(err)

    async def _send_now(self, notice: Notice, channel: str, address: str) -> str:
        try:
            kind = Channel(channel)
        except ValueError:
            raise channels.PermanentFailure(
                f"宛先 {notice.recipient} のチャネル「{channel}」は不明です (unknown channel {channel!r})"
            ) from None
        if kind is Channel.file:  # outbox files are written together, by _write_files
            raise AssertionError("file-channel notices do not go through _send_now")
        # A missing or malformed address and a missing relay are kenflow's settings, not the
        # recipient's answer: retried (see ConfigurationFailure), so the copy goes out once an
        # operator registers it, instead of failing for good.
        if not address:
            raise channels.ConfigurationFailure(
                f"宛先 {notice.recipient} の{kind.value}アドレスが登録されていません。"
                f"`kenflow recipients set {notice.recipient} --channel {kind.value} --address ...` "
                f"で登録してください "
                f"(no {kind.value} address registered for {notice.recipient})"
            )
        if kind is Channel.webhook:
            return await channels.post_webhook(notice, address, secret=self.settings.webhook_secret)
        try:
            target = parse_email_target(address)
        except RecipientError as err:
            raise channels.ConfigurationFailure(str(err)) from None
        host = target.host or self.settings.smtp_host
        if not host:
            raise channels.ConfigurationFailure(
                "SMTPサーバーが設定されていません。KENFLOW_SMTP_HOST を設定してワーカーを再起動してください "
                "(KENFLOW_SMTP_HOST is not set; retried until it is)"
            )
        port = target.port or self.settings.smtp_port
        security = channels.SmtpSecurity.for_relay(self.settings, host, port)
        return await channels.send_email(notice, target.to, self.settings.smtp_from, host, port, security)

    # ------------------------------------------------------------------ the rows

    def _look_up(self, notices: list[Notice]) -> tuple[dict[str, Recipient], set[str]]:
        """The recipients' registered entries and which of these notices' rows already say
        'delivered', in one connection."""
        with self.engine.connect() as conn:
            recipients = recipients_in(conn, [n.recipient for n in notices])
            delivered = conn.execute(_DELIVERED, {"keys": [n.key for n in notices]}).scalars()
            return recipients, set(delivered)

    def _record(self, plans: list[_Attempt]) -> None:
        """Every attempt and the notices' new states in one transaction. A notice's `failure`
        is the reason shown with it: final when permanent, the latest error while retrying.

        Core statements, not the ORM, and one UPDATE for all the notices delivered: this runs
        for every batch of copies sent."""
        now = _now()
        notices = [notice_row(p.notice) for p in plans]
        tried = [
            {
                "notice_key": p.notice.key,
                "at": now,
                "channel": p.channel,
                "address": p.address,
                "outcome": p.outcome,
                "detail": f"attempt {p.try_number}: {p.detail}"[:MAX_DETAIL],
            }
            for p in plans
        ]
        delivered = [p.notice.key for p in plans if p.outcome == "delivered"]
        with writing(self.engine) as conn:
            if not _record_packed(conn, notices, tried, delivered, now):
                insert_notices(conn, notices)  # attempts need their notice first
                conn.execute(sa.insert(ATTEMPT), tried)
                if delivered:
                    conn.execute(
                        sa.update(NOTICE)
                        .where(NOTICE.c.key.in_(delivered))
                        .values(
                            attempts=_ATTEMPTS_PLUS_ONE,
                            status=NoticeStatus.delivered.value,
                            delivered_at=now,
                            failure=None,
                        )
                    )
            for p in plans:
                failure = (p.failure or p.detail)[:MAX_DETAIL]
                if p.outcome == "failed":
                    values: dict[str, Any] = {"status": NoticeStatus.failed.value, "failure": failure}
                elif p.outcome == "retry":  # a late retry never hides that an earlier attempt got through
                    values = {
                        "failure": sa.case(
                            (NOTICE.c.status == NoticeStatus.delivered.value, NOTICE.c.failure), else_=failure
                        )
                    }
                else:
                    continue
                conn.execute(
                    sa.update(NOTICE)
                    .where(NOTICE.c.key == p.notice.key)
                    .values(attempts=_ATTEMPTS_PLUS_ONE, **values)
                )


def _record_packed(
    conn: sa.Connection,
    notices: list[dict[str, Any]],
    tried: list[dict[str, Any]],
    delivered: list[str],
    now: datetime,
) -> bool:
    """The batch's notices, attempts and deliveries in three statements whatever its size, each
    table's rows packed as JSON (kenflow/db/rows_together.py: each statement gives the worker's
    GIL up, and this holds the read model's writer lock the projections wait for); False, having
    written nothing, where they cannot go so (PostgreSQL, or values JSON cannot carry)."""
    keys = json.dumps(delivered, ensure_ascii=False)
    statements = [
        rows_together.packed(conn.dialect, NOTICE, notices, rows_together.NOTICE_CONFLICT),
        rows_together.packed(conn.dialect, ATTEMPT, tried),
    ]
    if None in statements or "\\u0000" in keys:
        return False
    for sql, param in statements:  # type: ignore[misc]
        rows_together.run(conn, sql, param)
    if delivered:
        at = driver.processor(NOTICE.c.delivered_at.type, conn.dialect)
        rows_together.run(
            conn,
            "UPDATE notice SET attempts = coalesce(attempts, 0) + 1, status = 'delivered', "
            f"delivered_at = ?, failure = NULL WHERE {rows_together.in_json('key')}",
            at(now) if at else now,
            keys,
        )
    return True


@dataclass
class _Attempt:
    """One notice's try within a batch: where it goes, then what happened."""

    notice: Notice
    channel: str
    address: str
    try_number: int
    outcome: str = "retry"  # delivered | failed | retry | skipped_duplicate
    detail: str = ""
    failure: str | None = None
    error: BaseException | None = None

    def delivered(self, detail: str) -> None:
        self.outcome, self.detail = "delivered", detail[:MAX_DETAIL]

    def refused(self, err: BaseException) -> None:
        """Permanent (a refusal retrying cannot fix) or to be retried, by the error's kind."""
        if isinstance(err, channels.PermanentFailure):
            self.outcome = "failed"
            self.detail = self.failure = str(err)[:MAX_DETAIL]
        else:
            self.outcome, self.error = "retry", err
            self.detail = self.failure = f"{type(err).__name__}: {err}"[:MAX_DETAIL]

    def result(self) -> DeliveryOutcome:
        status = {
            "delivered": NoticeStatus.delivered,
            "skipped_duplicate": NoticeStatus.delivered,
            "failed": NoticeStatus.failed,
        }.get(self.outcome, NoticeStatus.pending)
        detail = "already delivered" if self.outcome == "skipped_duplicate" else self.detail
        return DeliveryOutcome(key=self.notice.key, status=status, detail=detail)


def _write_files(plans: list[_Attempt]) -> None:
    """The outbox files of a batch, in the calling thread, each outcome noted on its plan; each
    directory made once for the batch."""
    made: dict[str, BaseException | None] = {}
    for p in plans:
        if p.address not in made:
            try:
                Path(p.address).mkdir(parents=True, exist_ok=True)
                made[p.address] = None
            except Exception as err:  # noqa: BLE001 — each of its notices is refused with it
                made[p.address] = err
        try:
            if (err := made[p.address]) is not None:
                raise err
            p.delivered(channels.write_outbox(p.notice, Path(p.address), made=True))
        except Exception as err:  # noqa: BLE001 — a full disk is retried like any other failure
            p.refused(err)
