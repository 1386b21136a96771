"""`kenflow recipients`: where each recipient's notices go (file outbox, e-mail, webhook).

A bad id, channel or address exits 2 with a bilingual message; the change is checked before it
is written, so a typo never reaches the delivery activity.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from activities.channels import safe_name
from kenflow.cli import app
from kenflow.db.engine import engine_for
from kenflow.db.migrate import upgrade
from kenflow.recipients import RecipientError, list_recipients, set_recipient
from kenflow.settings import get_settings

recipients_app = typer.Typer(
    help="通知の宛先（総務省・関係各省・都道府県・市町村）(notice recipients)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(recipients_app, name="recipients")

ID_HELP = "mic, ministry:mhlw|maff|mlit|meti, pref:25, muni:252026"
ADDRESS_HELP = "e-mail (a@b.jp[, c@b.jp] [via host:port]), an http(s) URL, or a directory for file"


def _engine() -> Engine:
    settings = get_settings()
    upgrade(settings.db_url)
    return engine_for(settings.db_url)


@recipients_app.command("list")
def list_command() -> None:
    """宛先の一覧 (list recipients and their channels)."""
    settings = get_settings()
    table = Table("ID", "名称 (label)", "チャネル (channel)", "宛先 (address)")
    for r in list_recipients(_engine()):
        default = f"{settings.outbox_dir / safe_name(r.id)}/" if r.channel.value == "file" else ""
        table.add_row(r.id, r.label, r.channel.value, r.address or default)
    Console().print(table)


@recipients_app.command("set")
def set_command(
    recipient_id: Annotated[str, typer.Argument(metavar="ID", help=ID_HELP)],
    channel: Annotated[str, typer.Option("--channel", help="file, email or webhook")],
    address: Annotated[str | None, typer.Option("--address", help=ADDRESS_HELP)] = None,
    label: Annotated[str | None, typer.Option("--label", help="表示名 (display name)")] = None,
) -> None:
    """宛先のチャネルとアドレスを登録・変更 (set a recipient's channel and address)."""
    try:
        r = set_recipient(_engine(), recipient_id, channel, address, label)
    except RecipientError as err:
        typer.echo(f"エラー (error): {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{r.id} ({r.label}): {r.channel.value} {r.address or ''}".rstrip())
