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

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import channels
from kenflow.db.tables import DeliveryAttemptRow, NoticeRow
from kenflow.recipients import Channel, RecipientError, get_recipient, parse_email_target
from kenflow.settings import Settings
from models.notice import DeliveryOutcome, Notice, NoticeStatus

log = logging.getLogger(__name__)

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
        attempt = activity.info().attempt
        recipient = await asyncio.to_thread(get_recipient, self.engine, notice.recipient)
        channel = recipient.channel.value if recipient else self.settings.default_channel
        address = self._address(notice, channel, recipient.address if recipient else None)
        if await asyncio.to_thread(self._already_delivered, notice):
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
        if not address:
            raise channels.PermanentFailure(
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
            raise channels.PermanentFailure(str(err)) from None
        host = target.host or self.settings.smtp_host
        if not host:
            raise channels.PermanentFailure("SMTPサーバーが設定されていません (KENFLOW_SMTP_HOST is not set)")
        port = target.port or self.settings.smtp_port
        security = channels.SmtpSecurity.for_relay(self.settings, host, port)
        return await channels.send_email(notice, target.to, self.settings.smtp_from, host, port, security)

    # ------------------------------------------------------------------ the rows

    def _already_delivered(self, notice: Notice) -> bool:
        with Session(self.engine) as session:
            row = session.get(NoticeRow, notice.key)
            return row is not None and row.status == NoticeStatus.delivered.value

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
        shown with the notice: final when permanent, the latest error while still retrying."""
        for _ in range(2):
            with Session(self.engine) as session:
                now = _now()
                row = session.get(NoticeRow, notice.key)
                if row is None:  # not projected yet: the attempt row needs its notice first
                    row = _new_row(notice)
                    session.add(row)
                    try:
                        session.flush()
                    except IntegrityError:
                        session.rollback()  # the read model inserted it meanwhile
                        continue
                session.add(
                    DeliveryAttemptRow(
                        notice_key=notice.key,
                        at=now,
                        channel=channel,
                        address=address,
                        outcome=outcome,
                        detail=detail[:MAX_DETAIL],
                    )
                )
                if outcome != "skipped_duplicate":
                    row.attempts = (row.attempts or 0) + 1
                if outcome == "delivered":
                    row.status, row.delivered_at, row.failure = NoticeStatus.delivered.value, now, None
                elif outcome == "failed":
                    row.status, row.failure = NoticeStatus.failed.value, (failure or detail)[:MAX_DETAIL]
                elif outcome == "retry" and row.status != NoticeStatus.delivered.value:
                    row.failure = (failure or detail)[:MAX_DETAIL]
                session.add(row)
                session.commit()
                return
        raise RuntimeError(f"could not record the delivery of {notice.key}")


def _new_row(notice: Notice) -> NoticeRow:
    return NoticeRow(
        key=notice.key,
        zone_id=notice.zone_id,
        document=notice.document,
        version=notice.version,
        recipient=notice.recipient,
        kind=notice.kind.value,
        subject=notice.subject,
        body=notice.body,
        created_at=notice.created_at,
        status=NoticeStatus.pending.value,
        attempts=0,
    )
