"""The recipient directory: defaults on first use, addresses checked when they are set (so a
typo is a message at the CLI, not an incident at delivery time)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

import kenflow.cli.commands  # noqa: F401  # registers every command, as `kenflow` itself does
from kenflow.cli import app
from kenflow.recipients import (
    Channel,
    EmailTarget,
    RecipientError,
    get_recipient,
    list_recipients,
    parse_email_target,
    set_recipient,
)
from kenflow.settings import get_settings


def test_defaults_are_created_on_first_use(engine: Engine) -> None:
    assert get_recipient(engine, "mic") is None
    entries = {r.id: r for r in list_recipients(engine)}
    assert len(entries) == 1 + 4 + 47
    assert entries["mic"].label == "総務省"
    assert entries["ministry:maff"].label == "農林水産省"
    assert entries["pref:25"].label == "滋賀県" and entries["pref:47"].label == "沖縄県"
    assert all(r.channel is Channel.file and r.address is None for r in entries.values())
    assert len(list_recipients(engine)) == 52  # idempotent


def test_set_validates_and_normalises(engine: Engine) -> None:
    r = set_recipient(engine, "pref:25", "email", "a@pref.shiga.example.jp, b@pref.shiga.example.jp")
    assert r.channel is Channel.email and r.label == "滋賀県"
    assert get_recipient(engine, "pref:25") == r
    m = set_recipient(engine, "muni:25202", "webhook", "https://hikone.example.jp/kenflow", label="彦根市")
    assert m.id == "muni:252026" and m.label == "彦根市"
    back = set_recipient(engine, "pref:25", "file")
    assert back.channel is Channel.file and back.address is None


@pytest.mark.parametrize(
    ("rid", "channel", "address", "words"),
    [
        ("pref:25", "email", "not-an-address", "形式"),
        ("pref:25", "email", None, "--address"),
        ("pref:25", "email", "a@b.jp via nowhere", "host:port"),
        ("pref:25", "webhook", "ftp://example.jp/x", "http"),
        ("pref:25", "webhook", "https://", "http"),
        ("pref:25", "fax", "0749-00-0000", "file、email、webhook"),
        ("pref:48", "file", None, "pref:01〜47"),
        ("muni:252027", "file", None, "検査数字"),
        ("ministry:mof", "file", None, "ministry:"),
    ],
)
def test_bad_entries_are_refused(
    engine: Engine, rid: str, channel: str, address: str | None, words: str
) -> None:
    with pytest.raises(RecipientError, match=words):
        set_recipient(engine, rid, channel, address)


def test_email_target_with_its_own_server() -> None:
    assert parse_email_target("a@b.jp") == EmailTarget(to=("a@b.jp",))
    assert parse_email_target("a@b.jp, c@b.jp via mail.b.jp:587") == EmailTarget(
        to=("a@b.jp", "c@b.jp"), host="mail.b.jp", port=587
    )


def test_cli_set_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KENFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KENFLOW_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        ok = runner.invoke(
            app,
            [
                "recipients",
                "set",
                "pref:25",
                "--channel",
                "email",
                "--address",
                "chiiki@pref.shiga.example.jp",
            ],
        )
        assert ok.exit_code == 0, ok.output
        assert "pref:25 (滋賀県): email chiiki@pref.shiga.example.jp" in ok.output
        bad = runner.invoke(app, ["recipients", "set", "pref:25", "--channel", "email", "--address", "x"])
        assert bad.exit_code == 2 and "形式" in bad.output
        listed = runner.invoke(app, ["recipients", "list"], env={"COLUMNS": "200"})
        assert listed.exit_code == 0
        assert "chiiki@pref.shiga.example.jp" in listed.output and "沖縄県" in listed.output
    finally:
        get_settings.cache_clear()
