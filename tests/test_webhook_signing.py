"""Signed webhooks (Standard Webhooks): the pure verify function receivers use, checked against
the spec's published test vector, and a real HTTP receiver that verifies what kenflow sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest
from pydantic import SecretStr
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities import channels
from activities.channels import WebhookVerificationError, verify_webhook
from activities.delivery import DeliveryActivities
from kenflow.db.tables import NoticeRow
from kenflow.recipients import set_recipient
from models.notice import NoticeStatus
from tests.delivery_fixtures import HttpReceiver, KenflowDb, serve_http
from tests.test_smtp_auth import notice

# The test vector of the Standard Webhooks reference libraries: same secret, id, timestamp and
# body give the same signature, so any Standard Webhooks library verifies what kenflow sends.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SPEC_HEADERS = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIGNATURE}

SECRET = "whsec_a2VuZmxvdy10ZXN0LXNlY3JldC0zMi1ieXRlcy1sb25n"  # base64 of 33 bytes


# --------------------------------------------------------------------------- the pure function


def test_the_spec_test_vector_signs_and_verifies() -> None:
    key = channels.webhook_key(SPEC_SECRET)
    assert channels.webhook_signature(key, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    verify_webhook(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS + 10)
    verify_webhook(key, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS)  # the raw key works too
    # Header names are case-insensitive, as HTTP's are.
    verify_webhook(SPEC_SECRET, {k.title(): v for k, v in SPEC_HEADERS.items()}, SPEC_BODY, now=SPEC_TS)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"body": b'{"test": 2432232315}'}, "no webhook-signature matches"),
        ({"body": SPEC_BODY + b" "}, "no webhook-signature matches"),
        ({"secret": SECRET}, "no webhook-signature matches"),
        ({"webhook-id": "msg_other"}, "no webhook-signature matches"),
        ({"webhook-timestamp": str(SPEC_TS + 1)}, "no webhook-signature matches"),
        ({"webhook-signature": "v1,AAAA"}, "no webhook-signature matches"),
        ({"webhook-signature": "v1,not base64!"}, "no webhook-signature matches"),
        ({"webhook-signature": SPEC_SIGNATURE.replace("v1,", "v2,")}, "no webhook-signature matches"),
        ({"webhook-signature": ""}, "missing"),
        ({"webhook-timestamp": "1614265330.5"}, "not Unix seconds"),
        ({"webhook-timestamp": "9" * 5000}, "not Unix seconds"),
        ({"now": SPEC_TS + 301}, "301 s old"),
        ({"now": SPEC_TS - 301}, "301 s ahead"),
    ],
)
def test_anything_changed_fails_verification(change: dict, reason: str) -> None:
    headers = {k: change.get(k, v) for k, v in SPEC_HEADERS.items()}
    with pytest.raises(WebhookVerificationError, match=reason):
        verify_webhook(
            change.get("secret", SPEC_SECRET),
            headers,
            change.get("body", SPEC_BODY),
            now=change.get("now", SPEC_TS),
        )


def test_tolerance_window_edges_and_key_rotation() -> None:
    verify_webhook(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS + 300)
    verify_webhook(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS - 300)
    verify_webhook(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS + 3600, tolerance=3600)
    # During a rotation the header carries several signatures; one match is enough.
    rotated = {**SPEC_HEADERS, "webhook-signature": f"v1,AAAA v1a,BBBB {SPEC_SIGNATURE}"}
    verify_webhook(SPEC_SECRET, rotated, SPEC_BODY, now=SPEC_TS)


@pytest.mark.parametrize("secret", ["", "whsec_", "a passphrase", "whsec_c2hvcnQ=", "whsec_!!!!"])
def test_a_secret_that_is_not_24_random_bytes_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="at least 24 random bytes"):
        channels.webhook_key(secret)


# --------------------------------------------------------------------------- over HTTP


@dataclass
class VerifyingReceiver:
    """A webhook endpoint that checks each request with verify_webhook, as a prefecture's would:
    204 when the signature holds, 401 with the reason otherwise."""

    secret: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/kenflow/notices"


@pytest.fixture
def verifying_receiver() -> Iterator[VerifyingReceiver]:
    receiver = VerifyingReceiver(secret=SECRET)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verify_webhook(receiver.secret, headers, body)
                verdict, status = "ok", 204
            except WebhookVerificationError as err:
                verdict, status = str(err), 401
            with lock:
                receiver.requests.append((headers, body))
                receiver.verdicts.append(verdict)
            payload = b"" if status == 204 else verdict.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    with serve_http(Handler) as receiver.port:
        yield receiver


async def test_signed_webhook_verifies_at_the_receiver_and_a_tampered_body_does_not(
    kf_db: KenflowDb, verifying_receiver: VerifyingReceiver
) -> None:
    settings = kf_db.settings.model_copy(update={"webhook_secret": SecretStr(SECRET)})
    set_recipient(kf_db.engine, "pref:25", "webhook", verifying_receiver.url)
    n = notice()
    out = await ActivityEnvironment().run(DeliveryActivities(kf_db.engine, settings).deliver_notice, n)

    assert out.status is NoticeStatus.delivered and "HTTP 204" in (out.detail or "")
    assert verifying_receiver.verdicts == ["ok"]
    ((headers, body),) = verifying_receiver.requests
    assert headers["webhook-id"] == headers["idempotency-key"] == n.key
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"
    assert json.loads(body)["key"] == n.key and "滋賀県".encode() in body  # UTF-8, not \\u escapes

    tampered = body.replace("滋賀県".encode(), "岐阜県".encode())
    with pytest.raises(WebhookVerificationError, match="no webhook-signature matches"):
        verify_webhook(SECRET, headers, tampered)
    # A captured request replayed later fails on its timestamp.
    with pytest.raises(WebhookVerificationError, match="old"):
        verify_webhook(SECRET, headers, body, now=int(headers["webhook-timestamp"]) + 600)


async def test_without_a_secret_nothing_is_signed(kf_db: KenflowDb, http_receiver: HttpReceiver) -> None:
    set_recipient(kf_db.engine, "pref:25", "webhook", http_receiver.url)
    await ActivityEnvironment().run(DeliveryActivities(kf_db.engine, kf_db.settings).deliver_notice, notice())
    (request,) = http_receiver.requests
    assert not any(h.startswith("webhook-") for h in request["headers"])
    assert request["json"]["recipient_label"] == "滋賀県"


async def test_a_malformed_secret_sends_nothing_and_says_which_setting(
    kf_db: KenflowDb, http_receiver: HttpReceiver
) -> None:
    settings = kf_db.settings.model_copy(update={"webhook_secret": SecretStr("let me in")})
    set_recipient(kf_db.engine, "pref:25", "webhook", http_receiver.url)
    n = notice()
    with pytest.raises(channels.ConfigurationFailure, match="KENFLOW_WEBHOOK_SECRET"):
        await ActivityEnvironment().run(DeliveryActivities(kf_db.engine, settings).deliver_notice, n)
    assert http_receiver.requests == []
    with Session(kf_db.engine) as s:
        row = s.get(NoticeRow, n.key)
        assert row is not None and row.status == "pending"
        assert "KENFLOW_WEBHOOK_SECRET" in (row.failure or "") and "let me in" not in (row.failure or "")
