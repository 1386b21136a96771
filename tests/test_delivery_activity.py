"""The deliver_notice activity on its own (no workflow): each channel's contract, the rows it
keeps, and idempotency. Runs on SQLite and PostgreSQL (the `engine` fixture)."""

from __future__ import annotations

import dataclasses
import email
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import channels
from activities.delivery import DeliveryActivities
from kenflow.db.tables import DeliveryAttemptRow, NoticeRow
from kenflow.recipients import set_recipient
from kenflow.settings import Settings
from models.notice import Notice, NoticeBatch, NoticeKind, NoticeStatus
from tests.delivery_fixtures import HttpReceiver, free_port


def notice(recipient: str = "pref:25", document: str = "declaration") -> Notice:
    zone = "settlement-252026"
    return Notice(
        key=Notice.make_key(zone, document, 1, recipient),
        zone_id=zone,
        document=document,
        recipient=recipient,
        kind=NoticeKind.copy,
        subject="【写し送付】湖東定住自立圏 中心市宣言",
        body="滋賀県 御中\n\n湖東定住自立圏(定住自立圏)の中心市宣言(第1版)を公表しましたので、"
        "写しを送付します。\n",
        created_at=datetime(2026, 4, 1, 0, 30, tzinfo=UTC),
    )


def settings_for(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, smtp_from="kenflow@example.jp", **kw)  # type: ignore[arg-type]


def attempts(engine: Engine, key: str) -> list[DeliveryAttemptRow]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(DeliveryAttemptRow)
                .where(DeliveryAttemptRow.notice_key == key)
                .order_by(DeliveryAttemptRow.id)
            ).all()
        )


def row(engine: Engine, key: str) -> NoticeRow:
    with Session(engine) as s:
        r = s.get(NoticeRow, key)
        assert r is not None
        return r


async def batch_statuses(acts: DeliveryActivities, notices: list[Notice]) -> dict[str, NoticeStatus]:
    """Each notice's status as deliver_notices answers for the batch."""
    out = await ActivityEnvironment().run(acts.deliver_notices, NoticeBatch(notices=notices))
    return {o.key: o.status for o in out.outcomes}


async def test_file_outbox_then_a_repeat_is_skipped(engine: Engine, tmp_path: Path) -> None:
    n = notice()
    acts = DeliveryActivities(engine, settings_for(tmp_path))
    out = await ActivityEnvironment().run(acts.deliver_notice, n)
    assert out.status is NoticeStatus.delivered
    path = tmp_path / "outbox" / "pref_25" / channels.outbox_file_name(n.key)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("件名: 【写し送付】湖東定住自立圏 中心市宣言\n宛先: 滋賀県 (pref:25)\n")
    assert "作成日時: 2026-04-01 09:30 (JST)" in text and text.endswith(n.body)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left

    path.unlink()
    again = await ActivityEnvironment().run(acts.deliver_notice, n)
    assert again.status is NoticeStatus.delivered and again.detail == "already delivered"
    assert not path.exists()  # not written a second time
    assert [a.outcome for a in attempts(engine, n.key)] == ["delivered", "skipped_duplicate"]
    r = row(engine, n.key)
    assert r.status == "delivered" and r.attempts == 1 and r.delivered_at is not None


async def test_missing_address_is_retried_until_it_is_registered(engine: Engine, tmp_path: Path) -> None:
    """A failed notice is never sent again, so a missing address (kenflow's settings, not the
    recipient's answer) keeps the notice pending and names the fix until an operator sets it."""
    n = notice("muni:252026")
    acts = DeliveryActivities(engine, settings_for(tmp_path, default_channel="webhook"))
    with pytest.raises(channels.ConfigurationFailure):
        await ActivityEnvironment().run(acts.deliver_notice, n)
    r = row(engine, n.key)
    assert r.status == "pending" and "kenflow recipients set muni:252026" in (r.failure or "")
    assert [a.outcome for a in attempts(engine, n.key)] == ["retry"]

    set_recipient(engine, "muni:252026", "file")  # the operator's fix
    out = await ActivityEnvironment().run(acts.deliver_notice, n)
    assert out.status is NoticeStatus.delivered
    assert [a.outcome for a in attempts(engine, n.key)] == ["retry", "delivered"]
    assert row(engine, n.key).status == "delivered"


async def test_smtp_550_is_permanent(engine: Engine, tmp_path: Path) -> None:
    class Refuse:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
            return "550 5.1.1 No such user"

    port = free_port()
    controller = Controller(Refuse(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        set_recipient(engine, "pref:25", "email", f"nobody@example.jp via 127.0.0.1:{port}")
        n = notice()
        acts = DeliveryActivities(engine, settings_for(tmp_path))
        with pytest.raises(ApplicationError) as err:
            await ActivityEnvironment().run(acts.deliver_notice, n)
    finally:
        controller.stop()
    assert err.value.type == "PermanentDeliveryFailure"
    assert "550" in (row(engine, n.key).failure or "")


async def test_webhook_429_is_retried(engine: Engine, tmp_path: Path, http_receiver: HttpReceiver) -> None:
    http_receiver.statuses = [429]
    set_recipient(engine, "pref:25", "webhook", http_receiver.url)
    n = notice()
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=3)
    with pytest.raises(channels.TransientFailure):
        await env.run(DeliveryActivities(engine, settings_for(tmp_path)).deliver_notice, n)
    r = row(engine, n.key)
    assert r.status == "pending" and "429" in (r.failure or "")
    (a,) = attempts(engine, n.key)
    assert a.outcome == "retry" and a.detail and a.detail.startswith("attempt 3: ")
    assert a.address == http_receiver.url and a.channel == "webhook"


def test_email_headers_are_stable_and_japanese() -> None:
    n = notice()
    msg = channels.build_email(n, "kenflow@example.jp", ["a@example.jp", "b@example.jp"])
    assert msg["Message-ID"] == channels.message_id(n.key) == channels.message_id(n.key)
    assert msg["Message-ID"].endswith("@kenflow>") and len(msg["Message-ID"]) == len("<@kenflow>") + 32
    parsed = email.message_from_bytes(msg.as_bytes(), policy=default_policy)
    assert parsed["Subject"] == n.subject
    assert parsed.get_content() == n.body
    assert parsed["To"] == "a@example.jp, b@example.jp"
    assert parsed["Date"] == "Wed, 01 Apr 2026 09:30:00 +0900"


def test_outbox_names_are_safe_and_distinct() -> None:
    a = channels.outbox_file_name("settlement-252026/agreement:212610/v1/pref:21")
    b = channels.outbox_file_name("settlement-252026/agreement_212610/v1/pref_21")
    assert a != b and "/" not in a and ":" not in a


async def test_a_batch_delivers_each_notice_and_answers_for_each(
    engine: Engine, tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    """One activity for the copies an act sends: each is attempted and recorded as alone; a
    refusal fails only its own notice, and one that cannot go now comes back pending (the zone
    then retries it alone), without failing the batch or the others."""
    http_receiver.statuses = [404]
    set_recipient(engine, "pref:21", "webhook", f"http://127.0.0.1:{http_receiver.port}/refuses")
    ok, refused, waiting = notice("pref:25"), notice("pref:21"), notice("muni:252026")
    set_recipient(engine, "pref:25", "file")
    # muni:252026 has no entry: the default channel, webhook, with no address (retried)
    acts = DeliveryActivities(engine, settings_for(tmp_path, default_channel="webhook"))
    assert await batch_statuses(acts, [ok, refused, waiting]) == {
        ok.key: NoticeStatus.delivered,
        refused.key: NoticeStatus.failed,
        waiting.key: NoticeStatus.pending,
    }
    assert [row(engine, k).status for k in (ok.key, refused.key, waiting.key)] == [
        "delivered",
        "failed",
        "pending",
    ]
    assert len(http_receiver.requests) == 1  # the refusal was asked once

    again = await ActivityEnvironment().run(acts.deliver_notices, NoticeBatch(notices=[ok]))
    assert again.outcomes[0].status is NoticeStatus.delivered
    assert [a.outcome for a in attempts(engine, ok.key)] == ["delivered", "skipped_duplicate"]


async def test_a_batch_costs_the_database_the_same_few_statements_however_many_copies(
    engine: Engine, tmp_path: Path
) -> None:
    """A publication sends nine copies at once: their bookkeeping is one look-up and one
    transaction, not nine of each, so a bigger batch adds rows, not round trips."""
    from sqlalchemy import event

    acts = DeliveryActivities(engine, settings_for(tmp_path, default_channel="file"))
    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        statements.append(sql.split()[0].upper())

    one = [notice("pref:25", "vision")]
    nine = [notice(f"pref:{p}", "vision") for p in range(10, 19)]
    event.listen(engine, "before_cursor_execute", count)
    try:
        await ActivityEnvironment().run(acts.deliver_notices, NoticeBatch(notices=one))
        alone = list(statements)
        statements.clear()
        out = await ActivityEnvironment().run(acts.deliver_notices, NoticeBatch(notices=nine))
        batched = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(o.status is NoticeStatus.delivered for o in out.outcomes)
    assert {row(engine, n.key).status for n in nine} == {"delivered"}
    assert len(batched) == len(alone) <= 5, (alone, batched)
    assert len(list((tmp_path / "outbox").rglob("*.txt"))) == 10


async def test_an_outbox_directory_that_cannot_be_made_holds_back_only_its_copies(
    engine: Engine, tmp_path: Path
) -> None:
    """A batch makes each outbox directory once. Where one cannot be made (a file stands in its
    place), its copies come back pending with the reason, to be retried, and the batch's other
    copies are written and delivered."""
    blocked, ok = notice("pref:21"), notice("pref:25")
    twin = notice("pref:21", document="vision")
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "pref_21").write_text("not a directory")
    acts = DeliveryActivities(engine, settings_for(tmp_path))
    assert await batch_statuses(acts, [blocked, ok, twin]) == {
        blocked.key: NoticeStatus.pending,
        ok.key: NoticeStatus.delivered,
        twin.key: NoticeStatus.pending,
    }
    assert "FileExistsError" in (row(engine, blocked.key).failure or "")
    written = tmp_path / "outbox" / "pref_25" / channels.outbox_file_name(ok.key)
    assert written.read_bytes().decode("utf-8").endswith(ok.body)
    assert [p.name for p in written.parent.iterdir()] == [written.name]  # no temporary file left


async def test_packed_bookkeeping_stores_what_the_statements_store(
    tmp_path: Path, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a batch's notices, attempts and deliveries go as three packed statements
    (kenflow/db/rows_together.py); the rows stored, as the database holds them, are those
    SQLAlchemy's statements store: delivered, refused and retried copies, and a repeat."""
    from activities import delivery
    from tests.test_projection_rows import fresh

    monkeypatch.setattr(delivery, "_now", lambda: datetime(2026, 4, 1, 1, 0, tzinfo=UTC))
    stored = []
    for packs, name in ((True, "packed"), (False, "statements")):
        if not packs:
            monkeypatch.setattr(delivery, "_record_packed", lambda *_: False)
        engine = fresh(tmp_path, name)
        http_receiver.statuses = [404]
        set_recipient(engine, "pref:21", "webhook", f"http://127.0.0.1:{http_receiver.port}/refuses")
        acts = DeliveryActivities(engine, settings_for(tmp_path, default_channel="webhook"))
        set_recipient(engine, "pref:25", "file")
        batch = [notice("pref:25"), notice("pref:21"), notice("muni:252026"), notice("pref:25", "vision")]
        await ActivityEnvironment().run(acts.deliver_notices, NoticeBatch(notices=batch))
        await ActivityEnvironment().run(acts.deliver_notices, NoticeBatch(notices=batch[:1]))
        with engine.connect() as conn:
            stored.append(
                [
                    conn.exec_driver_sql("SELECT * FROM notice ORDER BY key").all(),
                    conn.exec_driver_sql(
                        "SELECT notice_key, at, channel, outcome, detail FROM delivery_attempt ORDER BY id"
                    ).all(),
                ]
            )
    assert stored[0] == stored[1]
    assert ("2026-04-01 01:00:00.000000", "delivered") in {(r.delivered_at, r.status) for r in stored[0][0]}
