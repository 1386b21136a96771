"""The three ways a notice leaves kenflow: a file outbox, e-mail over SMTP, a webhook.

Each channel is one small function that either returns a detail line for the delivery log or
raises. `PermanentFailure` means the recipient refused the notice and retrying cannot help
(a 4xx answer, an SMTP 5xx); any other exception is transient and Temporal retries it with
backoff. Every channel is idempotent on the notice key, because an activity can run again after
it succeeded but before Temporal heard so: the outbox file is overwritten with the same bytes,
the e-mail keeps one Message-ID, the webhook carries an Idempotency-Key.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
import httpx

from models.fiscal import JST
from models.notice import Notice, recipient_label

SMTP_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 15.0
# 4xx answers that mean "not now" rather than "never".
RETRYABLE_HTTP = frozenset({408, 425, 429})


class PermanentFailure(Exception):
    """The recipient refused the notice; the message is the reason shown on the dashboard."""


class TransientFailure(Exception):
    """The recipient could not take the notice now (5xx, SMTP 4xx); try again later."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def safe_name(text: str) -> str:
    """A file-system-safe, still readable name: `pref:25` → `pref_25`."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def outbox_file_name(key: str) -> str:
    """Readable, and unique even where safe_name maps two keys to the same text."""
    return f"{safe_name(key)}-{_digest(key)[:8]}.txt"


def message_id(key: str) -> str:
    """The same Message-ID for every attempt, so a repeated send is recognisable as one mail."""
    return f"<{_digest(key)[:32]}@kenflow>"


def render_text(notice: Notice) -> str:
    """Headers then body, as a clerk would want to read it in a text editor."""
    created = notice.created_at.astimezone(JST)
    return (
        f"件名: {notice.subject}\n"
        f"宛先: {recipient_label(notice.recipient)} ({notice.recipient})\n"
        f"圏域: {notice.zone_id}\n"
        f"文書: {notice.document} 第{notice.version}版\n"
        f"種別: {notice.kind.value}\n"
        f"作成日時: {created.strftime('%Y-%m-%d %H:%M')} (JST)\n"
        f"Key: {notice.key}\n"
        f"Message-ID: {message_id(notice.key)}\n"
        f"\n{notice.body}"
    )


def write_outbox(notice: Notice, directory: Path) -> str:
    """One UTF-8 file per notice, written to a temporary name and renamed into place, so a
    reader never sees half a notice and a repeat leaves one file."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / outbox_file_name(notice.key)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(render_text(notice))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


def build_email(notice: Notice, sender: str, to: list[str] | tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = notice.subject
    msg["Date"] = format_datetime(notice.created_at.astimezone(JST))
    msg["Message-ID"] = message_id(notice.key)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    msg["X-Kenflow-Notice-Key"] = notice.key
    msg.set_content(notice.body, charset="utf-8", cte="base64")
    return msg


async def send_email(
    notice: Notice, to: list[str] | tuple[str, ...], sender: str, host: str, port: int
) -> str:
    """One SMTP transaction. SMTP 5xx is permanent; 4xx and connection trouble are transient."""
    msg = build_email(notice, sender, to)
    try:
        refused, response = await aiosmtplib.send(
            msg, hostname=host, port=port, sender=sender, recipients=list(to), timeout=SMTP_TIMEOUT
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        codes = [r.code for r in err.recipients]
        reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in err.recipients)
        if all(c >= 500 for c in codes):
            raise PermanentFailure(f"SMTP recipients refused: {reasons}") from None
        raise TransientFailure(f"SMTP recipients deferred: {reasons}") from None
    except aiosmtplib.SMTPResponseException as err:
        if err.code >= 500:
            raise PermanentFailure(f"SMTP {err.code} {err.message}") from None
        raise TransientFailure(f"SMTP {err.code} {err.message}") from None
    detail = f"{message_id(notice.key)} to {', '.join(to)} via {host}:{port}: {response}"
    if refused:
        detail += " (refused: " + "; ".join(f"{a}: {c} {m}" for a, (c, m) in refused.items()) + ")"
    return detail


def webhook_payload(notice: Notice) -> dict:
    return {**notice.model_dump(mode="json"), "recipient_label": recipient_label(notice.recipient)}


async def post_webhook(notice: Notice, url: str, client: httpx.AsyncClient | None = None) -> str:
    """POST the notice as JSON with `Idempotency-Key: <notice key>`. 2xx delivers; 5xx,
    408/425/429, timeouts and connection errors are transient; any other answer is permanent
    (redirects are not followed: a moved endpoint needs its address updated)."""
    headers = {"Idempotency-Key": notice.key, "User-Agent": "kenflow"}
    own = client is None
    client = client or httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, follow_redirects=False)
    try:
        resp = await client.post(url, json=webhook_payload(notice), headers=headers)
    finally:
        if own:
            await client.aclose()
    reason = f"HTTP {resp.status_code} {resp.reason_phrase}"
    snippet = resp.text[:300].strip()
    if snippet:
        reason += f": {snippet}"
    if 200 <= resp.status_code < 300:
        return f"{url}: {reason}"
    if resp.status_code >= 500 or resp.status_code in RETRYABLE_HTTP:
        raise TransientFailure(f"{url}: {reason}")
    raise PermanentFailure(f"{url}: {reason}")
