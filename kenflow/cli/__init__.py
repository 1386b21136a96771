"""The `kenflow` command. Each concern registers its commands in a module of its own."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="kenflow",
    help="kenflow — 定住自立圏・連携中枢都市圏のPDCAワークフロー (PDCA workflows for cooperation zones)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """kenflow — 定住自立圏・連携中枢都市圏のPDCAワークフロー"""


def main() -> None:
    # Command modules register themselves on import; keep this list one import per line.
    from . import commands  # noqa: F401

    app()
