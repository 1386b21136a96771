"""The recipient directory: where each notice recipient (MIC, a ministry, a prefecture, a
municipality) wants its notices, and through which channel.

Entries for MIC, the four related ministries and the 47 prefectures are created on first use
with the file outbox, so a fresh deployment delivers somewhere readable before anyone has typed
an address. An address is validated when it is set, not when a notice is sent: a typo found at
3 a.m. by the delivery activity is an incident, one found by the CLI is a message.

Address forms, by channel:
- file: empty (outbox_dir/<recipient>/) or a directory, e.g. a folder synced to the prefecture.
- email: one or more addresses separated by commas, optionally followed by ` via host:port`
  to use another SMTP server than the deployment's (KENFLOW_SMTP_HOST / KENFLOW_SMTP_PORT).
- webhook: an http(s) URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from urllib.parse import urlsplit

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from kenflow.db.tables import RecipientRow
from models.codes import PREFECTURES, CodeError, normalize_municipality_code
from models.notice import MIC, RELATED_MINISTRIES, recipient_label


class Channel(StrEnum):
    file = "file"
    email = "email"
    webhook = "webhook"


class RecipientError(ValueError):
    """A recipient id, channel or address that cannot be used; the message says why (ja, en)."""


class Recipient(BaseModel):
    id: str
    label: str
    channel: Channel
    address: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class EmailTarget:
    to: tuple[str, ...]
    host: str | None = None  # None: the deployment's SMTP server
    port: int | None = None


_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


def default_recipients() -> dict[str, str]:
    """id → label for the entries every deployment has: MIC, the ministries, the prefectures."""
    out = {MIC: recipient_label(MIC)}
    out.update(RELATED_MINISTRIES)
    out.update({f"pref:{code}": name for code, name in PREFECTURES.items()})
    return out


def normalize_id(raw: str) -> str:
    """Check a recipient id and return its canonical form (muni:25202 → muni:252026)."""
    text = raw.strip()
    if text == MIC or text in RELATED_MINISTRIES:
        return text
    kind, sep, code = text.partition(":")
    if sep and kind == "pref" and code in PREFECTURES:
        return text
    if sep and kind == "muni":
        try:
            return f"muni:{normalize_municipality_code(code)}"
        except CodeError as err:
            raise RecipientError(str(err)) from None
    raise RecipientError(
        f"宛先「{raw}」は使えません。mic、ministry:mhlw|maff|mlit|meti、pref:01〜47、"
        f"muni:団体コード のいずれかです "
        f"(unknown recipient {raw!r}; use mic, ministry:mhlw|maff|mlit|meti, pref:NN or muni:NNNNNN)"
    )


def parse_email_target(address: str) -> EmailTarget:
    """`a@b.jp, c@b.jp via mail.b.jp:587` → EmailTarget; RecipientError when malformed."""
    text, _, via = address.partition(" via ")
    to = tuple(a.strip() for a in text.split(",") if a.strip())
    if not to:
        raise RecipientError("メールアドレスが空です (the e-mail address is empty)")
    for a in to:
        if not _EMAIL.match(a):
            raise RecipientError(
                f"メールアドレス「{a}」の形式が正しくありません (not an e-mail address: {a!r})"
            )
    if not via.strip():
        return EmailTarget(to=to)
    m = _HOST_PORT.match(via.strip())
    if m is None or not 0 < int(m["port"]) < 65536:
        raise RecipientError(
            f"SMTPサーバー「{via.strip()}」は host:port の形式で指定してください "
            f"(SMTP server must be host:port, got {via.strip()!r})"
        )
    return EmailTarget(to=to, host=m["host"].strip("[]"), port=int(m["port"]))


def validate_address(channel: Channel | str, address: str | None) -> str | None:
    """The address to store for this channel, or RecipientError."""
    channel = Channel(channel)
    address = (address or "").strip() or None
    if channel is Channel.file:
        return address
    if address is None:
        raise RecipientError(
            f"チャネル {channel.value} には宛先アドレスが必要です (channel {channel.value} needs --address)"
        )
    if channel is Channel.email:
        parse_email_target(address)
        return address
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RecipientError(
            f"Webhookの宛先「{address}」は http:// または https:// で始まるURLで指定してください "
            f"(a webhook address must be an http(s) URL, got {address!r})"
        )
    return address


def _to_model(row: RecipientRow) -> Recipient:
    return Recipient(
        id=row.id,
        label=row.label,
        channel=Channel(row.channel),
        address=row.address or None,
        updated_at=row.updated_at,
    )


def ensure_defaults(engine: Engine) -> None:
    """Create the default entries that are missing; harmless when two processes race."""
    wanted = default_recipients()
    for _ in range(2):
        with Session(engine) as session:
            have = set(session.exec(select(RecipientRow.id)).all())
            missing = [i for i in wanted if i not in have]
            if not missing:
                return
            now = datetime.now(UTC)
            for rid in missing:
                session.add(
                    RecipientRow(
                        id=rid, label=wanted[rid], channel=Channel.file.value, address="", updated_at=now
                    )
                )
            try:
                session.commit()
                return
            except IntegrityError:
                session.rollback()  # another process inserted some; look again


def list_recipients(engine: Engine) -> list[Recipient]:
    ensure_defaults(engine)
    with Session(engine) as session:
        rows = session.exec(select(RecipientRow).order_by(RecipientRow.id)).all()
        return [_to_model(r) for r in rows]


def get_recipient(engine: Engine, recipient_id: str) -> Recipient | None:
    """The registered entry, or None (the caller then uses the deployment's default channel)."""
    with engine.connect() as conn:
        return recipient_in(conn, recipient_id)


def recipient_in(conn: Connection, recipient_id: str) -> Recipient | None:
    """get_recipient on the caller's connection."""
    return recipients_in(conn, [recipient_id]).get(recipient_id)


_RECIPIENT: sa.Table = RecipientRow.__table__  # type: ignore[attr-defined]
# Built once: the sender runs it for every batch of copies
_RECIPIENTS_IN = sa.select(_RECIPIENT).where(_RECIPIENT.c.id.in_(sa.bindparam("ids", expanding=True)))


def recipients_in(conn: Connection, recipient_ids: list[str]) -> dict[str, Recipient]:
    """The registered entries among `recipient_ids`, in one Core select on the caller's
    connection (the sender asks once per batch of copies, so it skips the ORM's session)."""
    rows = conn.execute(_RECIPIENTS_IN, {"ids": list(set(recipient_ids))}).all()
    return {r.id: _to_model(r) for r in rows}  # type: ignore[arg-type]


def set_recipient(
    engine: Engine,
    recipient_id: str,
    channel: Channel | str,
    address: str | None = None,
    label: str | None = None,
) -> Recipient:
    """Register or change where a recipient's notices go. Validates before writing."""
    rid = normalize_id(recipient_id)
    try:
        channel = Channel(channel)
    except ValueError:
        raise RecipientError(
            f"チャネル「{channel}」は使えません。file、email、webhook のいずれかです "
            f"(unknown channel {channel!r}; use file, email or webhook)"
        ) from None
    address = validate_address(channel, address)
    ensure_defaults(engine)
    with Session(engine) as session:
        row = session.get(RecipientRow, rid)
        if row is None:
            row = RecipientRow(id=rid, label=label or recipient_label(rid), channel=channel.value)
        if label:
            row.label = label
        row.channel, row.address = channel.value, address or ""
        row.updated_at = datetime.now(UTC)
        session.add(row)
        session.commit()
        session.refresh(row)
        return _to_model(row)
