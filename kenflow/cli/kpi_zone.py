"""`kenflow kpi actuals` and `kenflow kpi export`: a zone's KPI sheet out and its figures in.

The sheet goes round trip: export writes the columns models.kpi_import reads, so a clerk fills
in the 実績値 column and uploads the same file. An upload is all or nothing: every bad row is
listed, the exit code is 2 and the zone is untouched; a good file becomes ONE update.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from models import acts as A
from models.era import format_fiscal_year
from models.fiscal import current_jst_date, fiscal_year_of
from models.kpi_import import BulkImportError, parse_actuals
from models.zone import ZoneState

from . import _common as c
from .kpi import kpi_app


@kpi_app.command("actuals")
def actuals(
    zone: Annotated[str, typer.Argument(help="圏域ID")],
    file: Annotated[
        Path, typer.Argument(help="CSV (UTF-8 / Shift_JIS) or .xlsx: 指標ID, 年度, 実績値[, 見込]")
    ],
    as_: Annotated[str | None, c.as_option()] = None,
) -> None:
    """KPI実績を一括登録(全件か0件か) (record KPI actuals from a sheet, all or nothing)."""
    actor = c.parse_actor(as_, zone)
    try:
        data = file.read_bytes()
    except OSError as err:
        c.fail(f"ファイルを読めません: {file} ({err.strerror or err})")

    async def build(service: Any) -> A.Act:
        state: ZoneState = await service.state(zone)  # the workflow's KPIs, not a stale copy
        try:
            rows = parse_actuals(data, file.name, state.kpis, entered_by=actor.label())
        except BulkImportError as err:
            for e in err.errors:
                typer.echo(f"  {e}", err=True)
            c.fail(
                f"{file.name}: {len(err.errors)} 件の誤りがあるため取り込みませんでした。登録は0件です "
                f"({len(err.errors)} error(s); nothing was recorded)"
            )
        entries = [
            A.ActualEntry(kpi_id=r.kpi_id, fy=r.fy, value=r.value, from_fy=r.from_fy, estimate=r.estimate,
                          label=r.label)
            for r in rows
        ]  # fmt: skip
        return A.RecordKpiActuals(actor=actor, actuals=entries, source=file.name[:200])

    c.perform(zone, build)


def default_years(state: ZoneState) -> list[int]:
    """The vision's period up to this fiscal year, plus any year that has figures or a review."""
    now = fiscal_year_of(current_jst_date())
    years = {a.fy for a in state.actuals} | set(state.reviews)
    v = state.published_vision or state.vision
    if v is not None:
        years |= set(range(v.period_start_fy, min(v.period_end_fy, now) + 1))
    return sorted(years) or [now]


@kpi_app.command("export")
def export(
    zone: Annotated[str, typer.Argument(help="圏域ID")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv | xlsx")] = "csv",
    out: Annotated[Path | None, typer.Option("--output", "-o", help="出力先 (default ZONE-kpi.csv)")] = None,
    fy: Annotated[
        list[str] | None, typer.Option("--fy", help="年度 (repeatable); default: the vision's years")
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="ワークフローに直接照会")] = False,
) -> None:
    """KPIと評価を CSV/Excel に書き出す(そのまま実績入力に使えます) (export the KPI sheet)."""
    from kenflow.kpi_export import export_csv, export_rows, export_xlsx

    kind = fmt.strip().lower()
    if kind not in ("csv", "xlsx"):
        c.fail(f"--format は csv か xlsx です (got {fmt!r})")
    state = _state(zone, live)
    if not state.kpis:
        c.fail(f"圏域 {zone} にはKPIがまだありません(ビジョンの公表後に設定されます) (no KPIs yet)")
    years = [c.parse_fy(y, "--fy") for y in fy] if fy else default_years(state)
    rows = export_rows(state.kpis.values(), state.actuals, years, zone_id=zone)
    body = export_csv(rows) if kind == "csv" else export_xlsx(rows)
    target = out or Path(f"{zone}-kpi.{kind}")
    try:
        target.write_bytes(body)
    except OSError as err:
        c.fail(f"書き込めません: {target} ({err.strerror or err})")
    span = "・".join(format_fiscal_year(y, "short") for y in sorted(set(years)))
    c.console.print(f"[green]✓[/] {len(rows)} 行を書き出しました ({span}) → {escape(str(target))}")


def _state(zone: str, live: bool) -> ZoneState:
    if live:

        async def go(service: Any) -> ZoneState:
            return await service.state(zone)  # type: ignore[no-any-return]

        return c.run_service(go)
    from kenflow.db.queries import get_zone

    detail = get_zone(c.read_engine(), zone, limit=None)
    if detail is None:
        c.fail(f"圏域 {zone} が見つかりません (zone {zone} not found in the read model)")
    return detail.state
