"""Notices that really arrive: through a real SMTP server and a real HTTP endpoint, driven by
the zone workflow on the time-skipping Temporal server, so it is Temporal's retry policy
(DELIVERY_RETRY) that carries a notice across a recipient's outage, not a loop in the test."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.channels import message_id, outbox_file_name
from kenflow.db.tables import DeliveryAttemptRow, NoticeRow
from kenflow.recipients import set_recipient
from models import acts as A
from models.fiscal import current_jst_date
from models.notice import RELATED_MINISTRIES, Notice
from models.zone import Resolution
from tests import factories as f
from tests.delivery_fixtures import HttpReceiver, Kenflow, SmtpServer, eventually

TODAY = current_jst_date()


def _start() -> A.StartZone:
    return f.start(declared_on=TODAY - timedelta(days=60))


def notice_row(engine: Engine, key: str) -> NoticeRow | None:
    with Session(engine) as s:
        return s.get(NoticeRow, key)


def outcomes(engine: Engine, key: str) -> list[str]:
    with Session(engine) as s:
        rows = s.exec(
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.notice_key == key)
            .order_by(DeliveryAttemptRow.id)
        ).all()
        return [r.outcome for r in rows]


def status(engine: Engine, key: str) -> str | None:
    row = notice_row(engine, key)
    return row.status if row else None


async def test_email_survives_recipient_down_and_arrives_once(
    kenflow: Kenflow, smtp_server: SmtpServer
) -> None:
    engine = kenflow.db.engine
    set_recipient(engine, "pref:25", "email", "chiiki@pref.shiga.example.jp")
    zone_id = await kenflow.service.start_zone(_start())
    key = Notice.make_key(zone_id, "declaration", 1, "pref:25")

    # The SMTP server is down: attempts fail, are logged as retries, and Temporal backs off.
    await eventually(
        lambda: outcomes(engine, key).count("retry") >= 3, env=kenflow.env, skip=timedelta(seconds=5)
    )
    row = notice_row(engine, key)
    assert row is not None and row.status == "pending"
    assert "SMTPConnectError" in (row.failure or "")

    await smtp_server.start()
    await eventually(lambda: status(engine, key) == "delivered", env=kenflow.env, within=60)
    await kenflow.env.sleep(timedelta(hours=1))  # anything still scheduled would run now

    mails = smtp_server.inbox.with_id(message_id(key))
    assert len(mails) == 1
    assert len(smtp_server.inbox.messages) == 1  # the other recipients use the file outbox
    mail = mails[0]
    assert mail["Subject"] == "【写し送付】湖東定住自立圏 中心市宣言"
    assert mail["From"] == "kenflow@example.jp"
    assert mail["To"] == "chiiki@pref.shiga.example.jp"
    assert "滋賀県 御中" in mail.get_content()
    assert outcomes(engine, key)[-1] == "delivered"
    assert outcomes(engine, key).count("delivered") == 1
    state = await kenflow.service.state(zone_id)
    assert key not in {n.key for n in state.notices}  # delivered notices leave the workflow state


async def test_webhook_4xx_is_a_permanent_failure(kenflow: Kenflow, http_receiver: HttpReceiver) -> None:
    engine = kenflow.db.engine
    http_receiver.statuses = [404]
    set_recipient(engine, "pref:25", "webhook", http_receiver.url)
    zone_id = await kenflow.service.start_zone(_start())
    key = Notice.make_key(zone_id, "declaration", 1, "pref:25")

    await eventually(lambda: status(engine, key) == "failed")
    await kenflow.env.sleep(timedelta(hours=1))  # a retry, if one were scheduled, would run now

    assert len(http_receiver.requests) == 1
    assert outcomes(engine, key) == ["failed"]
    row = notice_row(engine, key)
    assert row is not None and row.attempts == 1
    assert "HTTP 404 Not Found" in (row.failure or "")

    async def workflow_gave_up() -> bool:
        state = await kenflow.service.state(zone_id)
        return any(
            n.key == key and n.status.value == "failed" and "404" in (n.failure or "") for n in state.notices
        )

    await eventually(workflow_gave_up)


async def test_webhook_500_then_200_is_delivered_once(kenflow: Kenflow, http_receiver: HttpReceiver) -> None:
    engine = kenflow.db.engine
    http_receiver.statuses = [500, 200]
    set_recipient(engine, "pref:25", "webhook", http_receiver.url)
    zone_id = await kenflow.service.start_zone(_start())
    key = Notice.make_key(zone_id, "declaration", 1, "pref:25")

    await eventually(lambda: status(engine, key) == "delivered", env=kenflow.env, within=60)
    await kenflow.env.sleep(timedelta(hours=1))

    assert len(http_receiver.requests) == 2
    assert all(r["headers"]["idempotency-key"] == key for r in http_receiver.requests)
    assert http_receiver.requests[-1]["json"]["key"] == key
    assert http_receiver.requests[-1]["json"]["recipient_label"] == "滋賀県"
    assert outcomes(engine, key) == ["retry", "delivered"]
    row = notice_row(engine, key)
    assert row is not None and row.attempts == 2 and row.failure is None and row.delivered_at is not None


def _outbox_text(outbox: Path, recipient: str, key: str) -> str:
    return (outbox / recipient.replace(":", "_") / outbox_file_name(key)).read_text(encoding="utf-8")


async def test_cross_prefecture_agreement_reaches_both_prefectures_and_ministries(kenflow: Kenflow) -> None:
    engine, outbox = kenflow.db.engine, kenflow.db.settings.outbox_dir
    zone_id = await kenflow.service.start_zone(_start())
    hub, neighbour = f.HIKONE, f.CROSS  # 滋賀県 and 岐阜県
    on = TODAY - timedelta(days=30)
    await kenflow.service.act(
        zone_id,
        A.DraftAgreement(
            actor=f.actor_of(hub), neighbour=neighbour, initiatives=f.initiatives(), drafted_on=on
        ),
    )
    for m, number in ((hub, "議案第1号"), (neighbour, "議案第7号")):
        await kenflow.service.act(
            zone_id,
            A.RecordResolution(
                actor=f.actor_of(m),
                neighbour_code=neighbour.code,
                resolution=Resolution(
                    municipality_code=m.code, resolved_on=on + timedelta(days=10), number=number
                ),
            ),
        )

    document = f"agreement:{neighbour.code}"
    recipients = ["pref:25", "pref:21", "mic", *RELATED_MINISTRIES]
    keys = {r: Notice.make_key(zone_id, document, 1, r) for r in recipients}
    declaration = {
        r: Notice.make_key(zone_id, "declaration", 1, r) for r in ["pref:25", "mic", *RELATED_MINISTRIES]
    }
    every = [*keys.values(), *declaration.values()]
    await eventually(lambda: all(status(engine, k) == "delivered" for k in every))

    assert "滋賀県 御中" in _outbox_text(outbox, "pref:25", keys["pref:25"])
    assert "岐阜県 御中" in _outbox_text(outbox, "pref:21", keys["pref:21"])
    assert "関ケ原町" in _outbox_text(outbox, "pref:21", keys["pref:21"])
    for ministry, name in RELATED_MINISTRIES.items():
        for k in (keys[ministry], declaration[ministry]):
            text = _outbox_text(outbox, ministry, k)
            assert text.startswith("件名: 【総務省より送付】湖東定住自立圏")
            assert f"{name} 御中" in text and "総務省より" in text
            assert notice_row(engine, k).kind == "forward"  # type: ignore[union-attr]
    # one file per notice, no temporary files left behind
    assert not list(outbox.rglob(".tmp-*"))
    assert len(list((outbox / "pref_21").iterdir())) == 1
