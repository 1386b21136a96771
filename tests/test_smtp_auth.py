"""E-mail through a relay that wants a login and TLS: a real aiosmtpd server with an
authenticator, and (where the `openssl` command exists) a certificate made for the test, so
STARTTLS, SMTPS and certificate checks run through aiosmtplib for real, without mocks.

A refused login is kenflow's configuration, not the recipient's answer: it is retried with a
message that names the settings to fix (see channels.ConfigurationFailure), and the workflow
test shows why: the notice waiting in Temporal's retries goes out once the worker restarts with
the right password."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities import channels
from activities.delivery import DeliveryActivities
from kenflow.db.tables import DeliveryAttemptRow, NoticeRow
from kenflow.recipients import set_recipient
from kenflow.service import ZoneService
from kenflow.settings import Settings
from models.fiscal import current_jst_date
from models.notice import Notice, NoticeKind, NoticeStatus
from tests import factories as f
from tests.delivery_fixtures import KenflowDb, eventually

pytestmark = pytest.mark.filterwarnings(
    # aiosmtpd warns about the plain-text login the first tests ask of it on purpose.
    "ignore:Requiring AUTH while not requiring TLS:UserWarning",
    "ignore:Session.login_data is deprecated:DeprecationWarning",
)

USER = "kenflow"
PASSWORD = "correct horse battery"
TO = "chiiki@pref.shiga.example.jp"


@dataclass
class Received:
    login: str | None  # the account the message was sent under
    tls: bool  # whether it came over an encrypted connection (STARTTLS or SMTPS)
    content: bytes


@dataclass
class Relay:
    """What reached the relay: each message with the login it was sent under. `password` is the
    account's password on the relay; a test can change it, as a relay's administrator would."""

    messages: list[Received] = field(default_factory=list)
    password: str = PASSWORD

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USER.encode()
            and auth_data.password == self.password.encode()
        )
        # handled=False: aiosmtpd answers a failure with its own "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        login = session.auth_data.login.decode() if session.authenticated else None
        tls = server.transport.get_extra_info("sslcontext") is not None
        self.messages.append(Received(login, tls, envelope.original_content))
        return "250 Message accepted for delivery"

    def with_id(self, message_id: str) -> list[Received]:
        needle = f"Message-ID: {message_id}".encode()
        return [m for m in self.messages if needle in m.content]


@contextmanager
def relay(port: int, **kwargs: Any) -> Iterator[Relay]:
    """An aiosmtpd relay on 127.0.0.1:port that refuses mail without a login."""
    inbox = Relay()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate, auth_required=True, **kwargs
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def notice() -> Notice:
    zone = "settlement-252026"
    return Notice(
        key=Notice.make_key(zone, "declaration", 1, "pref:25"),
        zone_id=zone,
        document="declaration",
        recipient="pref:25",
        kind=NoticeKind.copy,
        subject="【写し送付】湖東定住自立圏 中心市宣言",
        body="滋賀県 御中\n\n中心市宣言(第1版)を公表しましたので、写しを送付します。\n",
        created_at=datetime(2026, 4, 1, 0, 30, tzinfo=UTC),
    )


def with_smtp(db: KenflowDb, **update: Any) -> Settings:
    """kf_db's settings (relay 127.0.0.1:<free port>) with the SMTP security settings changed."""
    return db.settings.model_copy(update=update)


def failure_of(db: KenflowDb, key: str) -> tuple[str, str]:
    with Session(db.engine) as s:
        row = s.get(NoticeRow, key)
        assert row is not None
        return row.status, row.failure or ""


def outcomes(db: KenflowDb, key: str) -> list[str]:
    with Session(db.engine) as s:
        rows = s.exec(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.notice_key == key)
            .order_by(DeliveryAttemptRow.id)
        ).all()
        return [r.outcome for r in rows]


async def deliver(settings: Settings, db: KenflowDb, n: Notice) -> Any:
    return await ActivityEnvironment().run(DeliveryActivities(db.engine, settings).deliver_notice, n)


# --------------------------------------------------------------------------- plain-text login


async def test_right_password_delivers_once(kf_db: KenflowDb) -> None:
    settings = with_smtp(kf_db, smtp_username=USER, smtp_password=SecretStr(PASSWORD))
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    with relay(settings.smtp_port, auth_require_tls=False) as inbox:
        first = await deliver(settings, kf_db, n)
        again = await deliver(settings, kf_db, n)  # a retry after a lost completion
    assert first.status is NoticeStatus.delivered and f"(as {USER})" in (first.detail or "")
    assert again.detail == "already delivered"
    assert [(m.login, m.tls) for m in inbox.with_id(channels.message_id(n.key))] == [(USER, False)]
    assert len(inbox.messages) == 1
    assert outcomes(kf_db, n.key) == ["delivered", "skipped_duplicate"]


async def test_wrong_password_is_retried_with_a_reason_an_operator_can_act_on(kf_db: KenflowDb) -> None:
    settings = with_smtp(kf_db, smtp_username=USER, smtp_password=SecretStr("hunter2"))
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    with relay(settings.smtp_port, auth_require_tls=False) as inbox:
        with pytest.raises(channels.ConfigurationFailure) as err:
            await deliver(settings, kf_db, n)
    # Transient, not the non-retryable PermanentDeliveryFailure: DELIVERY_RETRY keeps the notice.
    assert isinstance(err.value, channels.TransientFailure) and not isinstance(err.value, ApplicationError)
    status, failure = failure_of(kf_db, n.key)
    assert status == "pending"
    assert failure.startswith("ConfigurationFailure: ")
    assert (
        f"SMTPサーバー 127.0.0.1:{settings.smtp_port} がユーザー「{USER}」のログインを拒否しました" in failure
    )
    assert "535 5.7.8 Authentication credentials invalid" in failure
    assert "KENFLOW_SMTP_PASSWORD" in failure and "restart the worker" in failure
    assert "hunter2" not in failure
    assert outcomes(kf_db, n.key) == ["retry"]
    assert inbox.messages == []


async def test_relay_wanting_a_login_names_the_settings(kf_db: KenflowDb) -> None:
    """No KENFLOW_SMTP_USERNAME, and the relay answers MAIL FROM with 530."""
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    with relay(kf_db.settings.smtp_port, auth_require_tls=False) as inbox:
        with pytest.raises(channels.ConfigurationFailure, match="530 5.7.0 Authentication required"):
            await deliver(kf_db.settings, kf_db, n)
    assert "KENFLOW_SMTP_USERNAME" in failure_of(kf_db, n.key)[1]
    assert inbox.messages == []


async def test_wrong_password_waits_for_the_fix_then_arrives_once(
    skip_env: WorkflowEnvironment, kf_db: KenflowDb
) -> None:
    """The operator's path through the zone workflow: kenflow's password and the relay's
    disagree, Temporal retries the notice (pending, not failed), the two are made to agree, and
    the waiting notice goes out once. (The fix here is on the relay, as an administrator
    resetting the account would do; fixing KENFLOW_SMTP_PASSWORD means a worker restart, which
    the time-skipping test server does not take well.)"""
    from worker import build_worker

    set_recipient(kf_db.engine, "pref:25", "email", TO)
    queue = f"kenflow-{uuid.uuid4().hex[:8]}"
    service = ZoneService(skip_env.client, queue)
    settings = with_smtp(kf_db, smtp_username=USER, smtp_password=SecretStr(PASSWORD))
    with relay(kf_db.settings.smtp_port, auth_require_tls=False) as inbox:
        inbox.password = "rotated-on-the-relay"
        async with build_worker(skip_env.client, settings, kf_db.engine, task_queue=queue):
            zone_id = await service.start_zone(f.start(declared_on=current_jst_date() - timedelta(days=60)))
            key = Notice.make_key(zone_id, "declaration", 1, "pref:25")
            await eventually(
                lambda: outcomes(kf_db, key).count("retry") >= 2, env=skip_env, skip=timedelta(seconds=5)
            )
            status, failure = failure_of(kf_db, key)
            assert status == "pending" and "535" in failure and "KENFLOW_SMTP_PASSWORD" in failure
            state = await service.state(zone_id)
            assert any(n.key == key and n.status is NoticeStatus.pending for n in state.notices)

            inbox.password = PASSWORD
            await eventually(lambda: failure_of(kf_db, key)[0] == "delivered", env=skip_env, within=60)
            await skip_env.sleep(timedelta(hours=1))  # anything still scheduled would run now
    assert [m.login for m in inbox.with_id(channels.message_id(key))] == [USER]
    assert outcomes(kf_db, key)[-1] == "delivered" and outcomes(kf_db, key).count("delivered") == 1
    assert set(outcomes(kf_db, key)[:-1]) == {"retry"}
    assert failure_of(kf_db, key)[1] == ""  # the reason is cleared once delivered


# --------------------------------------------------------------------------- TLS


@dataclass
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture
def cert(tmp_path: Path) -> Cert:
    """A self-signed certificate for 127.0.0.1, made by the `openssl` command (no Python
    dependency for it); it is its own CA, so it doubles as KENFLOW_SMTP_CA_BUNDLE."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed: no certificate for the TLS tests")
    out = Cert(tmp_path / "relay.pem", tmp_path / "relay.key")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(out.key), "-out", str(out.cert), "-days", "1", "-subj", "/CN=kenflow test relay"]
        + ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.mark.parametrize("starttls", ["auto", "on"])
async def test_starttls_with_the_relays_ca_delivers(kf_db: KenflowDb, cert: Cert, starttls: str) -> None:
    """The relay offers AUTH only after STARTTLS (aiosmtpd's default) and requires STARTTLS."""
    settings = with_smtp(
        kf_db,
        smtp_username=USER,
        smtp_password=SecretStr(PASSWORD),
        smtp_starttls=starttls,
        smtp_ca_bundle=cert.cert,
    )
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    with relay(settings.smtp_port, tls_context=cert.server_context(), require_starttls=True) as inbox:
        out = await deliver(settings, kf_db, n)
    assert out.status is NoticeStatus.delivered
    assert [(m.login, m.tls) for m in inbox.messages] == [(USER, True)]


async def test_untrusted_certificate_points_at_the_ca_bundle_setting(kf_db: KenflowDb, cert: Cert) -> None:
    settings = with_smtp(kf_db, smtp_username=USER, smtp_password=SecretStr(PASSWORD))
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    with relay(settings.smtp_port, tls_context=cert.server_context(), require_starttls=True) as inbox:
        with pytest.raises(channels.ConfigurationFailure, match="KENFLOW_SMTP_CA_BUNDLE"):
            await deliver(settings, kf_db, n)
        assert inbox.messages == []  # nothing, not even the login, crossed the untrusted link
        assert "self-signed certificate" in failure_of(kf_db, n.key)[1]
        # An operator who chooses to skip the check (a test relay) can.
        unchecked = settings.model_copy(update={"smtp_validate_certs": False})
        assert (await deliver(unchecked, kf_db, n)).status is NoticeStatus.delivered
    assert outcomes(kf_db, n.key) == ["retry", "delivered"] and len(inbox.messages) == 1


async def test_starttls_off_against_a_relay_that_needs_it(kf_db: KenflowDb, cert: Cert) -> None:
    settings = with_smtp(kf_db, smtp_username=USER, smtp_password=SecretStr(PASSWORD), smtp_starttls="off")
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    with relay(settings.smtp_port, tls_context=cert.server_context(), require_starttls=True) as inbox:
        with pytest.raises(channels.ConfigurationFailure, match="KENFLOW_SMTP_STARTTLS"):
            await deliver(settings, kf_db, n)
    assert "AUTH extension is not supported" in failure_of(kf_db, n.key)[1]
    assert inbox.messages == []


async def test_implicit_tls_delivers(kf_db: KenflowDb, cert: Cert) -> None:
    settings = with_smtp(
        kf_db,
        smtp_username=USER,
        smtp_password=SecretStr(PASSWORD),
        smtp_implicit_tls=True,
        smtp_ca_bundle=cert.cert,
    )
    set_recipient(kf_db.engine, "pref:25", "email", TO)
    n = notice()
    # aiosmtpd counts only STARTTLS as TLS for its auth_require_tls, not an SMTPS listener.
    with relay(settings.smtp_port, ssl_context=cert.server_context(), auth_require_tls=False) as inbox:
        out = await deliver(settings, kf_db, n)
    assert out.status is NoticeStatus.delivered
    assert [(m.login, m.tls) for m in inbox.messages] == [(USER, True)]


# --------------------------------------------------------------------------- the settings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    for name, value in {
        "KENFLOW_SMTP_USERNAME": USER,
        "KENFLOW_SMTP_PASSWORD": PASSWORD,
        "KENFLOW_SMTP_STARTTLS": "on",
        "KENFLOW_SMTP_IMPLICIT_TLS": "false",
        "KENFLOW_SMTP_VALIDATE_CERTS": "true",
        "KENFLOW_SMTP_CA_BUNDLE": str(bundle),
        "KENFLOW_SMTP_TIMEOUT": "12.5",
        "KENFLOW_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    }.items():
        monkeypatch.setenv(name, value)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.smtp_username == USER and s.smtp_password is not None
    assert s.smtp_password.get_secret_value() == PASSWORD and PASSWORD not in repr(s)
    assert (s.smtp_starttls, s.smtp_implicit_tls, s.smtp_validate_certs) == ("on", False, True)
    assert s.smtp_ca_bundle == bundle and s.smtp_timeout == 12.5
    assert s.webhook_secret is not None and "whsec_" not in repr(s)
    monkeypatch.setenv("KENFLOW_SMTP_STARTTLS", "maybe")
    with pytest.raises(ValueError, match="smtp_starttls"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_security_maps_onto_aiosmtplib_and_stays_with_the_relay(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        smtp_host="relay.example.jp",
        smtp_port=587,
        smtp_username=USER,
        smtp_password=SecretStr(PASSWORD),
        smtp_starttls="on",
    )
    own = channels.SmtpSecurity.for_relay(settings, "relay.example.jp", 587).send_kwargs()
    assert own == {
        "username": USER,
        "password": PASSWORD,
        "use_tls": False,
        "start_tls": True,
        "validate_certs": True,
        "cert_bundle": None,
        "timeout": 30.0,
    }
    # A recipient's own `via host:port` server never sees the relay's login.
    other = channels.SmtpSecurity.for_relay(settings, "mx.pref.example.jp", 25).send_kwargs()
    assert other["username"] is None and other["password"] is None and other["start_tls"] is None
    auto = channels.SmtpSecurity(starttls="auto").send_kwargs()
    assert auto["start_tls"] is None and auto["username"] is None  # what kenflow did before
    smtps = channels.SmtpSecurity(implicit_tls=True).send_kwargs()
    assert smtps["use_tls"] is True and smtps["start_tls"] is False
    with pytest.raises(channels.ConfigurationFailure, match="KENFLOW_SMTP_IMPLICIT_TLS"):
        channels.SmtpSecurity(implicit_tls=True, starttls="on").send_kwargs()
    with pytest.raises(channels.ConfigurationFailure, match="KENFLOW_SMTP_CA_BUNDLE"):
        channels.SmtpSecurity(ca_bundle=tmp_path / "missing.pem").send_kwargs()
