"""Bulk entry of KPI actuals from a CSV or Excel sheet, all or nothing.

Municipal staff keep KPI figures in spreadsheets; a half-imported sheet is worse than none
(they cannot tell which rows landed), so any bad row rejects the whole file and every problem
is reported at once, with the row number the user sees in Excel (header = row 1).
Pure: bytes in, actuals out; the caller records them.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from .era import parse_fiscal_year
from .kpi import KpiActual, KpiDefinition, KpiKind
from .kpi_values import milestone_value, normalize_text, parse_value

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000

# Canonical column -> accepted headers (normalised: NFKC, lower case, spaces as _). The Japanese
# ones are kenflow.kpi_export's headers, so an exported sheet can be filled in and re-imported.
ALIASES: dict[str, tuple[str, ...]] = {
    "kpi_id": ("kpi_id", "指標id"),
    "fiscal_year": ("fiscal_year", "fy", "年度"),
    "value": ("value", "実績値", "値"),
    "estimate": ("estimate", "見込", "見込/確定"),
    "from_fiscal_year": ("from_fiscal_year", "累計開始年度"),
    "note": ("note", "備考"),
}
REQUIRED = ("kpi_id", "fiscal_year", "value")
# Columns of the export that describe or evaluate a KPI; informative, never imported.
IGNORED = frozenset(
    {"圏域id", "指標名", "name", "視点", "政策分野", "種別", "単位", "目標版", "基準値", "基準年度"}
    | {"目標値", "目標年度", "期待値", "達成率(%)", "状況", "評価", "評価対象年度"}
)
_TRUE = frozenset({"見込", "見込み", "1", "true", "yes", "y", "はい", "○"})
_FALSE = frozenset({"", "確定", "実績", "0", "false", "no", "n", "いいえ"})


class RowError(BaseModel, frozen=True):
    """One problem: row None means the whole file (size, encoding, columns)."""

    row: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = "ファイル" if self.row is None else f"{self.row}行目"
        return f"{where}{f' [{self.column}]' if self.column else ''}: {self.reason}"


class BulkImportError(ValueError):
    """Every problem found in a file; nothing in it was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        head = "\n".join(str(e) for e in errors[:20])
        more = f"\n… ほか {len(errors) - 20} 件 (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(
            f"取込できません。{len(errors)} 件の誤り (import rejected, {len(errors)} errors)\n{head}{more}"
        )


def _file_error(reason: str) -> BulkImportError:
    return BulkImportError([RowError(row=None, column=None, reason=reason)])


def parse_actuals(
    data: bytes,
    filename: str,
    known_kpis: Mapping[str, KpiDefinition],
    entered_by: str,
    entered_at: datetime | None = None,
    today: date | None = None,
) -> list[KpiActual]:
    """Actuals from a .csv (UTF-8, UTF-8 with BOM or cp932) or .xlsx (first sheet).

    Rows with an empty value are skipped (a template row not filled in yet), but their KPI and
    FY are still checked. Raises BulkImportError listing every row error, or a file error.
    `today` bounds how far ahead a FY may be (parse_fiscal_year); pass it for determinism.
    """
    if len(data) > MAX_BYTES:
        raise _file_error(f"ファイルが 5 MB を超えています (file is larger than 5 MB: {len(data):,} bytes)")
    if not data.strip():
        raise _file_error("ファイルが空です (the file is empty)")
    rows = _read_xlsx(data) if _is_xlsx(filename) else _read_csv(data, filename)
    header_row = next(rows, None)
    if header_row is None or not any(_text(c) for c in header_row[1]):
        raise _file_error("1行目に見出しがありません (row 1 must hold the column headers)")
    columns, headers = _map_columns(header_row[1])
    ctx = _Context(known_kpis, entered_by, entered_at, today)
    errors: list[RowError] = []
    out: list[KpiActual] = []
    seen: dict[tuple[str, int], int] = {}
    count = 0
    for rownum, cells in rows:
        if not any(_text(c) for c in cells):
            continue
        count += 1
        if count > MAX_ROWS:
            raise _file_error(f"行数が {MAX_ROWS:,} を超えています (more than {MAX_ROWS:,} data rows)")
        for i, c in enumerate(cells):
            if _text(c) and i not in columns.values() and (i >= len(headers) or not headers[i]):
                errors.append(
                    _err(
                        rownum,
                        None,
                        f"見出しのない{i + 1}列目に値があります",
                        f"value in column {i + 1}, which has no header",
                    )
                )
        rec = {name: (cells[i] if i < len(cells) else None) for name, i in columns.items()}
        names = {name: headers[i] for name, i in columns.items()}
        actual, row_errors = _parse_row(rownum, rec, names, ctx)
        errors.extend(row_errors)
        if actual is None:
            continue
        key = (actual.kpi_id, actual.fy)
        if key in seen:
            errors.append(
                _err(
                    rownum,
                    names["fiscal_year"],
                    f"{seen[key]}行目と同じKPI・年度です",
                    f"duplicate of row {seen[key]}",
                )
            )
        else:
            seen[key] = rownum
            out.append(actual)
    if errors:
        raise BulkImportError(errors)
    if not out:
        raise _file_error("取り込む実績値がありません (no rows with a value to import)")
    return out


def _err(row: int, column: str | None, ja: str, en: str) -> RowError:
    return RowError(row=row, column=column, reason=f"{ja} ({en})")


def _is_xlsx(filename: str) -> bool:
    name = filename.lower()
    if name.endswith((".xlsx", ".xlsm")):
        return True
    if name.endswith((".csv", ".txt")):
        return False
    if name.endswith(".xls"):
        raise _file_error(
            "古い .xls 形式は読めません。.xlsx か CSV で保存してください (save as .xlsx or CSV)"
        )
    raise _file_error(
        f"CSV か .xlsx のファイルを指定してください (expected a .csv or .xlsx file, got {filename!r})"
    )


def _read_csv(data: bytes, filename: str) -> Iterator[tuple[int, list[Any]]]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise _file_error("UTF-16 のCSVは読めません。UTF-8 で保存してください (UTF-16 CSV is not supported)")
    if data.startswith(b"PK\x03\x04"):
        raise _file_error(
            f"{filename} はExcelファイルです。拡張子を .xlsx にしてください (this is an Excel file)"
        )
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _file_error(
            "文字コードを判別できません。UTF-8 か Shift_JIS で保存してください (not UTF-8 or cp932)"
        )
    if "\x00" in text:
        raise _file_error("CSVに NUL 文字があります (the CSV contains NUL bytes; is it binary?)")

    # A spreadsheet shows one record per row, even when a quoted cell holds a line break.
    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from enumerate(csv.reader(io.StringIO(text, newline="")), start=1)
        except csv.Error as exc:
            raise _file_error(f"CSVとして読めません (malformed CSV: {exc})") from None

    return rows()


def _read_xlsx(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl  # imported lazily: the workflow sandbox never needs it

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
    except Exception as exc:  # openpyxl raises zip, XML and key errors alike for a bad file
        raise _file_error(
            f"Excel (.xlsx) ファイルとして読めません (cannot read the .xlsx file: {exc})"
        ) from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for n, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                yield n, list(values)
        finally:
            wb.close()

    return rows()


def _map_columns(header: list[Any]) -> tuple[dict[str, int], list[str]]:
    headers = [_text(h) for h in header]
    lookup = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
    columns: dict[str, int] = {}
    errors: list[RowError] = []
    for i, h in enumerate(headers):
        if not h:
            continue
        key = unicodedata.normalize("NFKC", h).strip().lower().replace(" ", "_")
        if key.replace("_", "") == "kpiid":
            key = "kpi_id"
        name = lookup.get(key)
        if name is None:
            if key not in IGNORED:
                errors.append(
                    RowError(
                        row=1,
                        column=h,
                        reason=f"不明な列「{h}」です。使える列: {', '.join(ALIASES)} (unknown column {h!r})",
                    )
                )
        elif name in columns:
            errors.append(
                RowError(row=1, column=h, reason=f"列「{h}」が重複しています (duplicate column {h!r})")
            )
        else:
            columns[name] = i
    for name in REQUIRED:
        if name not in columns:
            errors.append(
                RowError(
                    row=1, column=name, reason=f"必須の列「{name}」がありません (missing column {name!r})"
                )
            )
    if errors:
        raise BulkImportError(errors)
    return columns, headers


def _text(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


@dataclass(frozen=True)
class _Context:
    known: Mapping[str, KpiDefinition]
    entered_by: str
    entered_at: datetime | None
    today: date | None


def _parse_row(
    rownum: int, rec: dict[str, Any], names: dict[str, str], ctx: _Context
) -> tuple[KpiActual | None, list[RowError]]:
    errors: list[RowError] = []
    kpi_id = _text(rec["kpi_id"])
    kpi = ctx.known.get(kpi_id)
    if not kpi_id:
        errors.append(_err(rownum, names["kpi_id"], "KPI ID が空です", "kpi_id is empty"))
    elif kpi is None:
        errors.append(
            _err(
                rownum, names["kpi_id"], f"KPI「{kpi_id}」は登録されていません", f"unknown kpi_id {kpi_id!r}"
            )
        )
    fy = _fiscal_year(rownum, rec["fiscal_year"], names["fiscal_year"], errors, ctx.today, required=True)
    from_fy = _fiscal_year(
        rownum, rec.get("from_fiscal_year"), names.get("from_fiscal_year"), errors, ctx.today
    )
    estimate = _estimate(rownum, rec.get("estimate"), names.get("estimate"), errors)
    note = _text(rec.get("note")) or None
    if note and len(note) > 2000:
        errors.append(
            _err(rownum, names["note"], "備考は2000文字以内にしてください", "note longer than 2000")
        )
    if not _text(rec["value"]):
        return None, errors
    value, label = _value(rownum, rec["value"], names["value"], kpi, errors)
    if kpi is not None and fy is not None:
        from_fy = _span(rownum, kpi, fy, from_fy, names, errors)
    if errors or kpi is None or fy is None or value is None or estimate is None:
        return None, errors
    try:
        actual = KpiActual(
            kpi_id=kpi.id, value=value, fy=fy, from_fy=from_fy, estimate=estimate,
            entered_by=ctx.entered_by, entered_at=ctx.entered_at, label=label, note=note,
        )  # fmt: skip
    except ValidationError as exc:
        reasons = "; ".join(e["msg"] for e in exc.errors())
        return None, [_err(rownum, None, "値が範囲外です", reasons)]
    return actual, []


def _fiscal_year(
    rownum: int,
    cell: Any,
    column: str | None,
    errors: list[RowError],
    today: date | None,
    required: bool = False,
) -> int | None:
    if isinstance(cell, datetime | date):
        errors.append(_err(rownum, column, "年度の欄に日付が入っています", "a date, not a fiscal year"))
        return None
    text = _text(cell)
    if not text:
        if required:
            errors.append(_err(rownum, column, "年度が空です", "fiscal_year is empty"))
        return None
    try:
        return parse_fiscal_year(text, today=today)
    except ValueError as exc:
        errors.append(RowError(row=rownum, column=column, reason=str(exc)))
        return None


def _estimate(rownum: int, cell: Any, column: str | None, errors: list[RowError]) -> bool | None:
    if isinstance(cell, bool):
        return cell
    text = normalize_text(_text(cell)).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    errors.append(
        _err(
            rownum,
            column,
            f"見込の欄「{cell}」は 見込/確定 で入力してください",
            "use 見込/確定, 1/0 or true/false",
        )
    )
    return None


def _value(
    rownum: int, cell: Any, column: str, kpi: KpiDefinition | None, errors: list[RowError]
) -> tuple[float | None, str | None]:
    label = None
    try:
        value = parse_value(cell, unit=kpi.unit if kpi else None)
    except ValueError as exc:
        errors.append(RowError(row=rownum, column=column, reason=str(exc)))
        return None, None
    if isinstance(cell, str) and milestone_value(cell) is not None:
        label = normalize_text(cell)
        if kpi is not None and kpi.kind is not KpiKind.milestone:
            errors.append(
                _err(rownum, column, f"「{cell}」ではなく数値を入力してください", "this KPI needs a number")
            )
            return None, None
    if kpi is not None and kpi.kind is KpiKind.milestone and value not in (0.0, 1.0):
        errors.append(
            _err(
                rownum,
                column,
                "達成状況は 0/1 または 策定済/未策定 等で入力してください",
                "use 0/1 or a label",
            )
        )
        return None, None
    return value, label


def _span(
    rownum: int,
    kpi: KpiDefinition,
    fy: int,
    from_fy: int | None,
    names: dict[str, str],
    errors: list[RowError],
) -> int | None:
    """Cumulative actuals count from the KPI's own start; other KPIs take no span."""
    column = names.get("from_fiscal_year", "from_fiscal_year")
    start = kpi.current.target.from_fy or kpi.current.baseline.from_fy
    if kpi.kind is not KpiKind.cumulative:
        if from_fy is not None:
            errors.append(
                _err(
                    rownum, column, "累計ではないKPIに開始年度があります", "only cumulative KPIs take a span"
                )
            )
        return None
    if from_fy is None:
        from_fy = start
    elif start is not None and from_fy != start:
        errors.append(
            _err(rownum, column, f"累計の開始年度は {start} 年度です", f"this KPI counts from FY{start}")
        )
        return None
    if from_fy is not None and from_fy > fy:
        errors.append(_err(rownum, column, "開始年度が年度より後です", "span starts after it ends"))
        return None
    return from_fy
