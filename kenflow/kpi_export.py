"""KPI sheets for people: every KPI with its evaluation for each FY, as CSV or .xlsx.

Headers and labels are Japanese and fiscal years read 令和3年度, because the sheet goes to
councils and prefectures as is. The 指標ID/年度/実績値/見込/累計開始年度 columns are the ones
models.kpi_import reads, so a clerk can fill in an exported sheet and upload it again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from models.era import format_fiscal_year
from models.kpi import (
    DEFAULT_BANDS,
    KIND_JA,
    STATUS_JA,
    GradeBands,
    KpiActual,
    KpiDefinition,
    KpiEvaluation,
    KpiPoint,
    evaluate,
)
from models.perspective import PERSPECTIVE_JA, field_label

HEADERS: tuple[str, ...] = (
    "圏域ID",
    "指標ID",
    "指標名",
    "視点",
    "政策分野",
    "種別",
    "単位",
    "年度",
    "実績値",
    "見込",
    "累計開始年度",
    "目標版",
    "基準値",
    "基準年度",
    "目標値",
    "目標年度",
    "期待値",
    "達成率(%)",
    "状況",
    "評価",
)

Cell = str | int | float | None


class ExportRow(BaseModel):
    zone_id: str = ""
    kpi: KpiDefinition
    evaluation: KpiEvaluation


RowLike = ExportRow | tuple[KpiDefinition, KpiEvaluation]


def export_rows(
    kpis: Iterable[KpiDefinition],
    actuals: Sequence[KpiActual],
    fys: Iterable[int],
    bands: GradeBands = DEFAULT_BANDS,
    zone_id: str = "",
) -> list[ExportRow]:
    """One row per KPI and FY (KPI order kept, FYs ascending), evaluated with `bands`."""
    years = sorted(set(fys))
    actual_list = list(actuals)
    return [
        ExportRow(zone_id=zone_id, kpi=k, evaluation=evaluate(k, actual_list, fy, bands))
        for k in kpis
        for fy in years
    ]


def _number(x: float | None, digits: int | None = None) -> int | float | None:
    if x is None:
        return None
    if digits is not None:
        x = round(x, digits)
    return int(x) if float(x).is_integer() else x


def _fy_span(p: KpiPoint) -> str:
    if p.from_fy is not None and p.from_fy != p.fy:
        return f"{format_fiscal_year(p.from_fy, style='ja')}〜{format_fiscal_year(p.fy, style='ja')}"
    return format_fiscal_year(p.fy, style="ja")


def row_cells(row: RowLike) -> list[Cell]:
    """The cells of one row, in HEADERS order; numbers stay numbers for Excel."""
    r = row if isinstance(row, ExportRow) else ExportRow(kpi=row[0], evaluation=row[1])
    k, e = r.kpi, r.evaluation
    t = next((x for x in k.targets if x.version == e.target_version), k.current)
    start = t.target.from_fy or t.baseline.from_fy
    return [
        r.zone_id,
        k.id,
        k.name,
        PERSPECTIVE_JA[k.perspective],
        field_label(k.perspective, k.field),
        KIND_JA[k.kind],
        k.unit,
        format_fiscal_year(e.fy, style="ja"),
        _number(e.actual),
        "" if e.actual is None else ("見込" if e.estimate else "確定"),
        format_fiscal_year(start, style="ja") if start is not None else "",
        t.version,
        _number(t.baseline.value),
        _fy_span(t.baseline),
        _number(t.target.value),
        _fy_span(t.target),
        _number(e.expected_value, 2),
        _number(e.achievement_rate, 1),
        STATUS_JA[e.status],
        e.grade or "",
    ]


def export_csv(rows: Iterable[RowLike]) -> bytes:
    """UTF-8 with a BOM and CRLF, which Excel in Japan opens without garbling."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows:
        writer.writerow(["" if c is None else c for c in row_cells(row)])
    return buf.getvalue().encode("utf-8-sig")


def export_xlsx(rows: Iterable[RowLike]) -> bytes:
    """One sheet, header frozen, numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "KPI"
    ws.append(list(HEADERS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row_cells(row))
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
