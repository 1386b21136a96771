"""`kenflow token issue`: give a coordinator, a prefecture or a municipality its API token.

The token is printed once and never stored in clear; lose it and issue a new one.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kenflow.auth import issue_token
from kenflow.cli import app
from kenflow.db.engine import engine_for
from kenflow.db.migrate import upgrade
from kenflow.settings import get_settings

token_app = typer.Typer(
    help="APIトークンの発行 (API tokens)", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(token_app, name="token")


@token_app.command("issue")
def issue_command(
    role: Annotated[str, typer.Option("--role", help="ministry | prefecture | municipality")],
    code: Annotated[
        str | None,
        typer.Option(
            "--code", help="都道府県コード(25)または団体コード(252026) (prefecture or municipality code)"
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", help="表示名 (display name)")] = None,
) -> None:
    """トークンを発行して表示します(一度だけ表示) (issue a token; shown once)."""
    settings = get_settings()
    upgrade(settings.db_url)
    try:
        token = issue_token(engine_for(settings.db_url), role, code, label)
    except ValueError as err:
        typer.echo(f"エラー (error): {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)
