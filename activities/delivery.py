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
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import channels
from kenflow.db.projection import insert_notices, notice_row
from kenflow.db.tables import DeliveryAttemptRow, NoticeRow
from kenflow.recipients import Channel, Recipient, RecipientError, parse_email_target, recipient_in
from kenflow.settings import Settings
from models.notice import BatchOutcome, DeliveryOutcome, Notice, NoticeBatch, NoticeStatus

log = logging.getLogger(__name__)

NOTICE: sa.Table = NoticeRow.__table__  # type: ignore[attr-defined]
ATTEMPT: sa.Table = DeliveryAttemptRow.__table__  # type: ignore[attr-defined]
PERMANENT = "PermanentDeliveryFailure"  # the type DELIVERY_RETRY lists as non-retryable
MAX_DETAIL = 2000


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @activity.defn(name="deliver_notice")
    async def deliver_notice(self, notice: Notice) -> DeliveryOutcome:
        return await self._deliver(notice)

    @activity.defn(name="deliver_notices")
    async def deliver_notices(self, batch: NoticeBatch) -> BatchOutcome:
        """Every notice of the batch at once, each attempted and recorded as deliver_notice
        does; this activity itself never fails for a notice: one that could not go now comes
        back pending and the zone retries it alone (deliver_notice, with backoff)."""
        return BatchOutcome(outcomes=list(await asyncio.gather(*(self._try(n) for n in batch.notices))))

    async def _try(self, notice: Notice) -> DeliveryOutcome:
        try:
            return await self._deliver(notice)
        except ApplicationError as err:  # permanent: recorded as failed already
            return DeliveryOutcome(
                key=notice.key, status=NoticeStatus.failed, detail=str(err.message)[:MAX_DETAIL]
            )
        except Exception as err:  # noqa: BLE001 — recorded as a retry already
            return DeliveryOutcome(
                key=notice.key,
                status=NoticeStatus.pending,
                detail=f"{type(err).__name__}: {err}"[:MAX_DETAIL],
            )

    async def _deliver(self, notice: Notice) -> DeliveryOutcome:
        attempt = activity.info().attempt
        recipient, delivered = await asyncio.to_thread(self._look_up, notice)
        channel = recipient.channel.value if recipient else self.settings.default_channel
        address = self._address(notice, channel, recipient.address if recipient else None)
        if delivered:
            await asyncio.to_thread(
                self._record,
                notice,
                channel,
                address,
                "skipped_duplicate",
                f"attempt {attempt}: already delivered; not sent again",
            )
            return DeliveryOutcome(key=notice.key, status=NoticeStatus.delivered, detail="already delivered")
        try:
            detail = await self._send(notice, channel, address)
        except channels.PermanentFailure as err:
            reason = str(err)[:MAX_DETAIL]
            await asyncio.to_thread(
                self._record, notice, channel, address, "failed", f"attempt {attempt}: {reason}", reason
            )
            log.warning("notice %s permanently failed: %s", notice.key, reason)
            raise ApplicationError(reason, type=PERMANENT, non_retryable=True) from None
        except Exception as err:
            error = f"{type(err).__name__}: {err}"
            await asyncio.to_thread(
                self._record, notice, channel, address, "retry", f"attempt {attempt}: {error}", error
            )
            raise
        detail = detail[:MAX_DETAIL]
        await asyncio.to_thread(
            self._record, notice, channel, address, "delivered", f"attempt {attempt}: {detail}"
        )
        return DeliveryOutcome(key=notice.key, status=NoticeStatus.delivered, detail=detail)

    def _address(self, notice: Notice, channel: str, address: str | None) -> str:
        """The registered address; for the file channel without one, the outbox directory."""
        if address:
            return address
        if channel == Channel.file.value:
            return str(self.settings.outbox_dir / channels.safe_name(notice.recipient))
        return ""

    # ------------------------------------------------------------------ channels

    async def _send(self, notice: Notice, channel: str, address: str) -> str:
        try:
            kind = Channel(channel)
        except ValueError:
            raise channels.PermanentFailure(
                f"宛先 {notice.recipient} のチャネル「{channel}」は不明です (unknown channel {channel!r})"
            ) from None
        if kind is Channel.file:
            return await asyncio.to_thread(channels.write_outbox, notice, Path(address))
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

    def _look_up(self, notice: Notice) -> tuple[Recipient | None, bool]:
        """The recipient's registered entry and whether this notice's row already says
        'delivered', in one connection: a publication sends nine copies at once."""
        with self.engine.connect() as conn:
            recipient = recipient_in(conn, notice.recipient)
            status = conn.execute(sa.select(NOTICE.c.status).where(NOTICE.c.key == notice.key)).scalar()
        return recipient, status == NoticeStatus.delivered.value

    def _record(
        self,
        notice: Notice,
        channel: str,
        address: str,
        outcome: str,
        detail: str,
        failure: str | None = None,
    ) -> None:
        """The attempt and the notice's new state in one transaction. `failure` is the reason
        shown with the notice: final when permanent, the latest error while still retrying.

        Core statements, not the ORM: this runs once per copy sent, and a unit of work with
        identity-map loads cost several times the three statements it issues."""
        now = _now()
        values: dict[str, Any] = {}
        if outcome != "skipped_duplicate":
            values["attempts"] = sa.func.coalesce(NOTICE.c.attempts, 0) + 1
        if outcome == "delivered":
            values.update(status=NoticeStatus.delivered.value, delivered_at=now, failure=None)
        elif outcome == "failed":
            values.update(status=NoticeStatus.failed.value, failure=(failure or detail)[:MAX_DETAIL])
        elif outcome == "retry":  # a late retry never hides that an earlier attempt got through
            values["failure"] = sa.case(
                (NOTICE.c.status == NoticeStatus.delivered.value, NOTICE.c.failure),
                else_=(failure or detail)[:MAX_DETAIL],
            )
        with self.engine.begin() as conn:
            insert_notices(conn, [notice_row(notice)])  # the attempt row needs its notice first
            conn.execute(
                sa.insert(ATTEMPT).values(
                    notice_key=notice.key,
                    at=now,
                    channel=channel,
                    address=address,
                    outcome=outcome,
                    detail=detail[:MAX_DETAIL],
                )
            )
            if values:
                conn.execute(sa.update(NOTICE).where(NOTICE.c.key == notice.key).values(**values))
