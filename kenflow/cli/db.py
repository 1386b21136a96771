"""`kenflow db` and `kenflow municipalities`: the read model's schema and its municipality table.

The database is the one in Settings (KENFLOW_DATABASE_URL, default SQLite under
KENFLOW_DATA_DIR). Every command brings the schema to head first, so it works on a fresh data
directory. A bad CSV exits 2 listing every bad row, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from kenflow.cli import app
from kenflow.db.engine import engine_for
from kenflow.db.migrate import head_revision, upgrade
from kenflow.db.queries import search_municipalities
from kenflow.db.seed import import_municipalities, load_seed
from kenflow.settings import get_settings
from models.codes import CodeError, prefecture_name

db_app = typer.Typer(
    help="データベース (the read-model database)", no_args_is_help=True, pretty_exceptions_enable=False
)
municipalities_app = typer.Typer(
    help="市町村 (municipalities and their figures)", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(db_app, name="db")
app.add_typer(municipalities_app, name="municipalities")


def _engine() -> Engine:
    url = get_settings().db_url
    upgrade(url)
    return engine_for(url)


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


@db_app.command("upgrade")
def upgrade_command() -> None:
    """スキーマを最新にし、全国の中心市一覧を登録 (migrate to head and load the register's cities)."""
    engine = _engine()
    n = load_seed(engine)
    where = engine.url.render_as_string()
    typer.echo(f"schema at {head_revision()}; {n} cities from the national register ({where})")


@municipalities_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="UTF-8 or Shift_JIS CSV")],
) -> None:
    """市町村の人口・昼夜間人口比率などをCSVから取り込む (import municipality figures from a CSV)."""
    from models.municipality_csv import CsvImportError, parse_municipality_csv

    try:
        data = file.read_bytes()
    except OSError as err:
        _fail(f"ファイルを読めません: {file} ({err.strerror or err})")
    try:
        rows = parse_municipality_csv(data)
    except CsvImportError as err:
        for e in err.errors:
            typer.echo(str(e), err=True)
        _fail(
            f"取り込みを中止しました。{len(err.errors)} 件のエラー、登録は0件です "
            f"(import aborted: {len(err.errors)} error(s), nothing written)"
        )
    n = import_municipalities(_engine(), rows)
    typer.echo(f"{n} 件を取り込みました ({n} municipalities imported)")


@municipalities_app.command("list")
def list_command(
    prefecture: Annotated[str | None, typer.Option("--prefecture", "-p", help="25, 滋賀県 or 滋賀")] = None,
    q: Annotated[str | None, typer.Option("--q", help="名称の一部または団体コード (name or code)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=5000)] = 200,
) -> None:
    """登録済みの市町村 (list municipalities)."""
    try:
        rows = search_municipalities(_engine(), q=q, prefecture=prefecture, limit=limit)
    except CodeError as err:
        _fail(str(err))
    table = Table("団体コード", "名称", "都道府県", "種別", "人口", "昼夜間人口比率", "出典")
    for r in rows:
        kind = "指定都市" if r.designated_city else "中核市" if r.core_city else r.kind
        table.add_row(
            r.code,
            r.name,
            prefecture_name(r.prefecture_code),
            kind,
            f"{r.population:,}" if r.population is not None else "—",
            f"{r.day_night_ratio:.3f}" if r.day_night_ratio is not None else "—",
            r.source,
        )
    Console().print(table)
    if not rows:
        typer.echo("該当する市町村はありません (no municipalities match)")
