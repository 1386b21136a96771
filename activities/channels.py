"""The three ways a notice leaves kenflow: a file outbox, e-mail over SMTP, a webhook.

Each channel is one small function that either returns a detail line for the delivery log or
raises. `PermanentFailure` means the recipient refused the notice and retrying cannot help
(a 4xx answer, an SMTP 5xx); any other exception is transient and Temporal retries it with
backoff. `ConfigurationFailure` is a transient failure caused by kenflow's own settings (a
refused SMTP login, an untrusted relay certificate, a malformed webhook secret): retried, so the
notice still goes out once an operator fixes the setting. Every channel is idempotent on the
notice key, because an activity can run again after it succeeded but before Temporal heard so:
the outbox file is overwritten with the same bytes, the e-mail keeps one Message-ID, the webhook
carries an Idempotency-Key (and, with a secret, the same `webhook-id`).

Webhook signing follows Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`,
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256>` over
`{id}.{timestamp}.{body}`. `verify_webhook` is the receiver's half, pure and stdlib-only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import SecretStr

from models.fiscal import JST
from models.notice import Notice, recipient_label

if TYPE_CHECKING:
    import httpx

    from kenflow.settings import Settings

SMTP_TIMEOUT = 30.0
WEBHOOK_TIMEOUT = 15.0
# 4xx answers that mean "not now" rather than "never".
RETRYABLE_HTTP = frozenset({408, 425, 429})
# Standard Webhooks' reference libraries accept a timestamp this far from the receiver's clock.
WEBHOOK_TOLERANCE = 300.0
WEBHOOK_SECRET_PREFIX = "whsec_"
# The spec asks for at least 24 random bytes (192 bits) of signing key.
WEBHOOK_MIN_KEY_BYTES = 24


class PermanentFailure(Exception):
    """The recipient refused the notice; the message is the reason shown on the dashboard."""


class TransientFailure(Exception):
    """The recipient could not take the notice now (5xx, SMTP 4xx); try again later."""


class ConfigurationFailure(TransientFailure):
    """kenflow's own settings stop the delivery: a refused SMTP login (535) or a relay that wants
    one (530), TLS options the relay cannot meet, an untrusted certificate, a malformed webhook
    secret. The message names the setting to fix.

    Retried, not permanent, on purpose. `PermanentFailure` is for a recipient that refused *this
    notice*, where no retry can help; here the same settings fail every notice, and the fix is an
    operator's (correct the setting, restart the worker). The zone workflow has no way to resend a
    notice once it is marked failed, so a permanent failure would turn a one-line settings fix
    into copies that never reach the prefecture or the ministry. The zone workflow's
    DELIVERY_RETRY already carries a notice across a recipient's outage (backoff to one attempt
    per 10 minutes, for up to 60 days); a wrong password is an outage of kenflow's sending path
    and rides the same policy. Meanwhile every attempt is logged with this message and the
    notice's row shows it, so the zone page tells the operator what to fix. The cost is one failed
    login per pending notice per 10 minutes, which a relay with an aggressive lockout policy may
    count against the account.
    """


class WebhookVerificationError(Exception):
    """A webhook request whose signature does not hold; the message says which check failed."""


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


_TMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)  # tempfile's own


def write_outbox(notice: Notice, directory: Path, *, made: bool = False) -> str:
    """One UTF-8 file per notice, written to a temporary name and renamed into place, so a
    reader never sees half a notice and a repeat leaves one file.

    `made`: the caller made `directory` already (a batch of copies makes each once). The
    bytes go straight to the descriptor, with no text wrapper around it: each system call
    here gives the worker's GIL up and waits to take it back, and in the national bench's
    formation this function held the GIL longer than the projection's write did
    (bench/README item 21). The temporary file is opened as tempfile.mkstemp opens one
    (O_EXCL, mode 0600) under a random name of its own: mkstemp's checks of its arguments
    and its name sequence were a third of this function's time (item 23)."""
    if not made:
        directory.mkdir(parents=True, exist_ok=True)
    target = directory / outbox_file_name(notice.key)
    data = render_text(notice).encode("utf-8")
    tmp = os.path.join(directory, f".tmp-{secrets.token_hex(8)}.txt")
    fd = os.open(tmp, _TMP_FLAGS, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
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


# KENFLOW_SMTP_STARTTLS → aiosmtplib's start_tls (None: upgrade if the server offers it).
_START_TLS: dict[str, bool | None] = {"on": True, "off": False, "auto": None}


@dataclass(frozen=True)
class SmtpSecurity:
    """How kenflow logs in to the relay and protects the connection, in aiosmtplib's own terms
    (no protocol of our own: aiosmtplib does STARTTLS, SMTPS and AUTH).

    `starttls`: "on" upgrades or fails, "off" never upgrades, "auto" upgrades when the server
    offers STARTTLS (aiosmtplib's `start_tls=None`, and what kenflow did before these settings
    existed). `implicit_tls` is SMTPS, TLS from the first byte (usually port 465)."""

    username: str | None = None
    password: SecretStr | None = None
    starttls: Literal["auto", "on", "off"] = "auto"
    implicit_tls: bool = False
    validate_certs: bool = True
    ca_bundle: Path | None = None
    timeout: float = SMTP_TIMEOUT

    @classmethod
    def for_relay(cls, settings: Settings, host: str, port: int) -> SmtpSecurity:
        """The settings' security for the deployment's relay (KENFLOW_SMTP_HOST:PORT). A server a
        recipient names with `via host:port` is someone else's: it never receives the relay's
        login, and gets opportunistic STARTTLS, since the relay's TLS mode says nothing about it.
        Certificate checks, the CA bundle and the timeout apply to every server."""
        own = cls(
            username=settings.smtp_username or None,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            implicit_tls=settings.smtp_implicit_tls,
            validate_certs=settings.smtp_validate_certs,
            ca_bundle=settings.smtp_ca_bundle,
            timeout=settings.smtp_timeout,
        )
        if host == settings.smtp_host and port == settings.smtp_port:
            return own
        return replace(own, username=None, password=None, starttls="auto", implicit_tls=False)

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `aiosmtplib.send`; ConfigurationFailure when the settings
        contradict each other or name a CA bundle that is not there, before anything is sent."""
        if self.implicit_tls and self.starttls == "on":
            raise ConfigurationFailure(
                "KENFLOW_SMTP_IMPLICIT_TLS と KENFLOW_SMTP_STARTTLS=on は同時に使えません。どちらかにしてください "
                "(implicit TLS and STARTTLS=on exclude each other: set one)"
            )
        if self.ca_bundle is not None and not self.ca_bundle.is_file():
            raise ConfigurationFailure(
                f"KENFLOW_SMTP_CA_BUNDLE のファイル {self.ca_bundle} がありません "
                f"(CA bundle {str(self.ca_bundle)!r} not found)"
            )
        password = self.password.get_secret_value() if self.password is not None else None
        return {
            "username": self.username,
            "password": password if self.username else None,
            "use_tls": self.implicit_tls,
            # With implicit TLS the connection is already encrypted: never STARTTLS on top.
            "start_tls": False if self.implicit_tls else _START_TLS[self.starttls],
            "validate_certs": self.validate_certs,
            "cert_bundle": str(self.ca_bundle) if self.ca_bundle is not None else None,
            "timeout": self.timeout,
        }


_LOGIN_FIX = (
    "KENFLOW_SMTP_USERNAME と KENFLOW_SMTP_PASSWORD を確認し、ワーカーを再起動してください。"
    "それまで送付は再試行されます"
)


def _smtp_configuration_failure(
    err: Exception, host: str, port: int, security: SmtpSecurity
) -> ConfigurationFailure | None:
    """The failures that are kenflow's settings rather than the recipient, each worded with the
    setting that fixes it; None for everything else. Never quotes the password."""
    import aiosmtplib

    relay = f"{host}:{port}"
    if isinstance(err, aiosmtplib.SMTPAuthenticationError) and err.code >= 500:  # 454 is "try later"
        return ConfigurationFailure(
            f"SMTPサーバー {relay} がユーザー「{security.username}」のログインを拒否しました "
            f"({err.code} {err.message})。{_LOGIN_FIX} "
            f"(SMTP login refused: check KENFLOW_SMTP_USERNAME / KENFLOW_SMTP_PASSWORD and restart "
            f"the worker; the notice is retried until then)"
        )
    if isinstance(err, aiosmtplib.SMTPResponseException) and err.code == 530:
        return ConfigurationFailure(
            f"SMTPサーバー {relay} は送信の前に認証またはTLSを求めています ({err.code} {err.message})。"
            f"KENFLOW_SMTP_USERNAME・KENFLOW_SMTP_PASSWORD・KENFLOW_SMTP_STARTTLS を確認してください "
            f"(the relay requires a login or TLS first; the notice is retried until then)"
        )
    cause = err if isinstance(err, ssl.SSLCertVerificationError) else err.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return ConfigurationFailure(
            f"SMTPサーバー {relay} の証明書を検証できません ({cause.verify_message})。"
            f"発行元の証明書を KENFLOW_SMTP_CA_BUNDLE に指定するか、サーバーの証明書を直してください "
            f"(untrusted relay certificate: set KENFLOW_SMTP_CA_BUNDLE or fix the certificate; retried)"
        )
    # aiosmtplib raises the bare class when the server lacks what the settings ask for:
    # no AUTH offered (e.g. only after STARTTLS, with KENFLOW_SMTP_STARTTLS=off), no STARTTLS.
    if type(err) is aiosmtplib.SMTPException:
        return ConfigurationFailure(
            f"SMTPサーバー {relay} と設定が合いません: {err} "
            f"(check KENFLOW_SMTP_STARTTLS / KENFLOW_SMTP_IMPLICIT_TLS / KENFLOW_SMTP_USERNAME; retried)"
        )
    return None


async def send_email(
    notice: Notice,
    to: list[str] | tuple[str, ...],
    sender: str,
    host: str,
    port: int,
    security: SmtpSecurity | None = None,
) -> str:
    """One SMTP transaction. SMTP 5xx is permanent; 4xx and connection trouble are transient;
    a refused login, a missing one and TLS trouble are ConfigurationFailure (retried: see there)."""
    # aiosmtplib (and the email package behind it) loads when the first e-mail goes out: a
    # worker whose recipients all use the outbox or webhooks never pays its ~11 MB.
    import aiosmtplib

    security = security or SmtpSecurity()
    msg = build_email(notice, sender, to)
    options = security.send_kwargs()
    try:
        refused, response = await aiosmtplib.send(
            msg, hostname=host, port=port, sender=sender, recipients=list(to), **options
        )
    except aiosmtplib.SMTPRecipientsRefused as err:
        codes = [r.code for r in err.recipients]
        reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in err.recipients)
        if all(c >= 500 for c in codes):
            raise PermanentFailure(f"SMTP recipients refused: {reasons}") from None
        raise TransientFailure(f"SMTP recipients deferred: {reasons}") from None
    except (aiosmtplib.SMTPException, ssl.SSLError) as err:
        config = _smtp_configuration_failure(err, host, port, security)
        if config is not None:
            raise config from None
        if not isinstance(err, aiosmtplib.SMTPResponseException):
            raise
        if err.code >= 500:
            raise PermanentFailure(f"SMTP {err.code} {err.message}") from None
        raise TransientFailure(f"SMTP {err.code} {err.message}") from None
    detail = f"{message_id(notice.key)} to {', '.join(to)} via {host}:{port}: {response}"
    if security.username:
        detail += f" (as {security.username})"
    if refused:
        detail += " (refused: " + "; ".join(f"{a}: {c} {m}" for a, (c, m) in refused.items()) + ")"
    return detail


def webhook_payload(notice: Notice) -> dict:
    return {**notice.model_dump(mode="json"), "recipient_label": recipient_label(notice.recipient)}


def webhook_body(notice: Notice) -> bytes:
    """The exact bytes sent and signed: compact UTF-8 JSON, as httpx's `json=` writes it, made
    here so the signature covers what goes on the wire whatever httpx version serialises."""
    return json.dumps(
        webhook_payload(notice), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


def webhook_key(secret: str | SecretStr) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_` (optional) then base64 of at least 24
    random bytes. Strict where the spec's reference libraries are lenient (they drop characters
    that are not base64), so a passphrase is refused instead of becoming a key some receivers
    derive differently; ValueError says how to make a proper secret."""
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    text = text.strip().removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < WEBHOOK_MIN_KEY_BYTES:
        raise ValueError(
            f"the webhook secret must be '{WEBHOOK_SECRET_PREFIX}' + base64 of at least "
            f'{WEBHOOK_MIN_KEY_BYTES} random bytes, e.g. python -c "import base64,secrets; '
            f"print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
        )
    return key


def webhook_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}." + body>`: Standard Webhooks' symmetric
    scheme. The id and the timestamp are signed with the body so neither can be swapped: the
    timestamp bounds replays, the id is the receiver's idempotency key."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def webhook_signature_headers(
    secret: str | SecretStr, msg_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt. A retry is signed afresh with its own
    timestamp, so a receiver's tolerance window applies to the attempt, not to the notice."""
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(webhook_key(secret), msg_id, timestamp, body),
    }


def verify_webhook(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = WEBHOOK_TOLERANCE,
    now: float | None = None,
) -> None:
    """For receivers: return if the request was signed by kenflow with `secret` (the same
    `whsec_...` string, or the raw key bytes) no more than `tolerance` seconds from `now`;
    raise WebhookVerificationError otherwise. Pure (no I/O; `now` defaults to the clock) and
    standard-library only, so a receiver can copy it (with webhook_key and webhook_signature).

    `body` must be the raw request bytes: parsing and re-serialising the JSON changes them. The
    comparison is constant-time (hmac.compare_digest), so timing does not leak how much of a
    forged signature was right; a timestamp outside the window is refused before any comparison,
    which bounds replays of a captured request (deduplicate on `webhook-id` for the rest). Every
    `v1,` signature in the header is tried, as the spec allows several during a key rotation.
    A malformed `secret` is the receiver's own mistake and raises ValueError instead."""
    key = secret if isinstance(secret, bytes) else webhook_key(secret)
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise WebhookVerificationError(f"webhook-timestamp is not Unix seconds: {stamp[:40]!r}")
    timestamp = int(stamp)
    skew = (time.time() if now is None else now) - timestamp
    if skew > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(skew)} s old (tolerance {int(tolerance)} s)"
        )
    if -skew > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp is {int(-skew)} s ahead (tolerance {int(tolerance)} s)"
        )
    expected = base64.b64decode(webhook_signature(key, msg_id, timestamp, body).removeprefix("v1,"))
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, given):
            return
    raise WebhookVerificationError("no webhook-signature matches the body")


async def post_webhook(
    notice: Notice,
    url: str,
    client: httpx.AsyncClient | None = None,
    *,
    secret: str | SecretStr | None = None,
) -> str:
    """POST the notice as JSON with `Idempotency-Key: <notice key>`, signed when a `secret` is
    given (Standard Webhooks headers, `webhook-id` = the notice key). 2xx delivers; 5xx,
    408/425/429, timeouts and connection errors are transient; any other answer is permanent
    (redirects are not followed: a moved endpoint needs its address updated)."""
    # httpx (with rich and click when they are installed) loads with the first webhook: ~17 MB a
    # worker that only writes to the outbox or sends mail does without.
    import httpx

    body = webhook_body(notice)
    headers = {"Idempotency-Key": notice.key, "User-Agent": "kenflow", "Content-Type": "application/json"}
    if secret is not None and (secret.get_secret_value() if isinstance(secret, SecretStr) else secret):
        try:
            headers.update(webhook_signature_headers(secret, notice.key, body))
        except ValueError as err:
            raise ConfigurationFailure(
                f"KENFLOW_WEBHOOK_SECRET の形式が正しくありません。設定を直してワーカーを再起動してください "
                f"({err}; retried until then)"
            ) from None
    own = client is None
    client = client or httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT, follow_redirects=False)
    try:
        resp = await client.post(url, content=body, headers=headers)
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
