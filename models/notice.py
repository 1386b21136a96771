"""Notices: copies of documents and reminders, each with a stable idempotency key.

The key (zone, document, version, recipient) is what makes a retried or replayed delivery
land once: SMTP Message-IDs and webhook Idempotency-Key headers are derived from it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from .codes import PREFECTURES

MIC = "mic"  # 総務省
# The related ministries the seed names as taking part; MIC forwards copies to each.
RELATED_MINISTRIES: dict[str, str] = {
    "ministry:mhlw": "厚生労働省",
    "ministry:maff": "農林水産省",
    "ministry:mlit": "国土交通省",
    "ministry:meti": "経済産業省",
}


def prefecture_recipient(pref_code: str) -> str:
    return f"pref:{pref_code}"


def municipality_recipient(code: str) -> str:
    return f"muni:{code}"


def recipient_label(recipient: str) -> str:
    if recipient == MIC:
        return "総務省"
    if recipient in RELATED_MINISTRIES:
        return RELATED_MINISTRIES[recipient]
    kind, _, code = recipient.partition(":")
    if kind == "pref":
        return PREFECTURES.get(code, recipient)
    return recipient


class NoticeKind(StrEnum):
    copy = "copy"  # 写しの送付
    forward = "forward"  # 総務省から関係各省への送付
    reminder = "reminder"


class NoticeStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"  # permanent failure: an incident to look at


class Notice(BaseModel):
    key: str
    zone_id: str
    document: str  # e.g. "declaration", "agreement:252034", "vision", "reminder:..."
    version: int = 1
    recipient: str
    kind: NoticeKind = NoticeKind.copy
    subject: str
    body: str
    created_at: datetime
    status: NoticeStatus = NoticeStatus.pending
    failure: str | None = None

    @staticmethod
    def make_key(zone_id: str, document: str, version: int, recipient: str) -> str:
        return f"{zone_id}/{document}/v{version}/{recipient}"


class DeliveryOutcome(BaseModel):
    key: str
    status: NoticeStatus
    detail: str | None = Field(default=None, max_length=2000)


class NoticeBatch(BaseModel):
    """The notices one act or one reminder sends, delivered by one activity: a publication's nine
    copies are one round trip through Temporal instead of nine."""

    notices: list[Notice] = Field(min_length=1, max_length=500)


class BatchOutcome(BaseModel):
    """One outcome per notice: delivered, failed (for good), or pending: it could not go now and
    the zone sends it again on its own, with Temporal's retries."""

    outcomes: list[DeliveryOutcome]
