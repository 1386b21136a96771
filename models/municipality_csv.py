"""Parse the municipality figures CSV that `kenflow municipalities import FILE.csv` loads.

Eligibility checks need each municipality's population, day/night ratio and commuting share,
which clerks keep in spreadsheets. The parser is pure (bytes in, models out) and
all-or-nothing: it reports every bad row at once, numbered as the spreadsheet shows them
(the header is row 1), and a file with any bad row yields nothing, so a half-imported file
can never feed a decision.

Encoding: UTF-8 with or without BOM, or Shift_JIS / cp932 (Excel's Japanese CSV).
The first row names the columns, in any order; the Japanese names in brackets work too.

- ``code`` (団体コード), required: 全国地方公共団体コード, 5 digits, or 6 with the check digit.
- ``name`` (名称), required: e.g. 彦根市.
- ``kind`` (種別): city / town / village / special_ward, or 市 / 町 / 村 / 特別区;
  when empty, taken from the name's last character (市, 町, 村, 区).
- ``population`` (人口): a whole number; "112,156" (quoted) and full-width digits are fine.
- ``day_night_ratio`` (昼夜間人口比率): a ratio such as 1.02; a percentage must say so: 102%.
- ``designated_city`` (指定都市), ``core_city`` (中核市): 1 / 0 / true / false / empty (= false).
- ``commute_share_to_metro`` (通勤通学割合): % of commuters and students going to the special
  wards or a designated city, 0–100 ("8.5" or "8.5%").
- ``former_cities`` (旧市): merged former cities, ``name:population:ratio`` separated by ``;``,
  e.g. ``旧A市:30,000:1.05;旧B町::0.92`` (population and ratio may be left empty).

Empty cells mean "unknown" (None), except the two flags, which mean false.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .codes import CodeError, normalize_municipality_code
from .municipality import Municipality, MunicipalityKind

__all__ = ["COLUMNS", "CsvImportError", "RowError", "parse_municipality_csv"]

MAX_ROWS = 10_000  # Japan has about 1,900 municipalities and wards; more is not a figures file
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("団体コード", "コード"),
    "name": ("名称", "市区町村名", "団体名"),
    "kind": ("種別",),
    "population": ("人口",),
    "day_night_ratio": ("昼夜間人口比率",),
    "designated_city": ("指定都市",),
    "core_city": ("中核市",),
    "commute_share_to_metro": ("通勤通学割合",),
    "former_cities": ("旧市", "旧市町村"),
}
REQUIRED = ("code", "name")
KINDS = {
    "city": MunicipalityKind.city, "市": MunicipalityKind.city,
    "town": MunicipalityKind.town, "町": MunicipalityKind.town,
    "village": MunicipalityKind.village, "村": MunicipalityKind.village,
    "special_ward": MunicipalityKind.special_ward, "特別区": MunicipalityKind.special_ward,
}  # fmt: skip
TRUE, FALSE = {"1", "true", "yes", "〇", "○"}, {"0", "false", "no", ""}


@dataclass(frozen=True)
class RowError:
    """One problem: row as the spreadsheet numbers it (header = 1; 0 = the whole file)."""

    row: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.row}行目" if self.row else "ファイル"
        return f"{where}{f' [{self.column}]' if self.column else ''}: {self.reason}"


class CsvImportError(ValueError):
    """The file cannot be imported; `errors` lists every bad row."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "\n".join(str(e) for e in errors[:20])
        more = f"\n… ほか {len(errors) - 20} 件 (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(
            f"CSVを取り込めません: {len(errors)} 件のエラー ({len(errors)} errors)\n{shown}{more}"
        )


class _CellError(ValueError):
    pass


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else cp932. cp932 maps some stray bytes to private-use or C1
    characters instead of failing; text containing them was not Shift_JIS either."""
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" or not re.search("[\x80-\x9f\ue000-\uf8ff]", text):
            return text
    reason = "文字コードを判別できません。UTF-8かShift_JISで保存してください (save as UTF-8 or Shift_JIS)"
    raise CsvImportError([RowError(0, None, reason)])


def _header(cells: list[str]) -> tuple[list[str | None], list[RowError]]:
    """Map each header cell to a column name; unknown or repeated columns are errors."""
    aliases = {alias: col for col, names in COLUMNS.items() for alias in (col, *names)}
    columns: list[str | None] = []
    errors = []
    for raw in cells:
        text = unicodedata.normalize("NFKC", raw).strip().lower().replace(" ", "_")
        col = aliases.get(text) if text else None
        if text and col is None:
            reason = f"不明な列名です (unknown column; expected {', '.join(COLUMNS)})"
            errors.append(RowError(1, raw, reason))
        elif col is not None and col in columns:
            errors.append(RowError(1, col, f"列「{col}」が重複しています (column appears twice)"))
        columns.append(col)
    for col in REQUIRED:
        if col not in columns:
            errors.append(RowError(1, col, f"必須の列「{col}」がありません (required column missing)"))
    return columns, errors


def _number(text: str) -> str:
    """Digits as typed in Japan: full-width, thousands separators, a trailing %."""
    text = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if not re.fullmatch(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?%?", text):
        raise _CellError(f"数値として読めません: {text!r} (not a number)")
    return text.replace(",", "")


def _int(text: str) -> int | None:
    if not text.strip():
        return None
    number = _number(text)
    if "." in number or "%" in number:
        raise _CellError(f"整数で入力してください: {text!r} (whole number expected)")
    return int(number)


def _ratio(text: str) -> float | None:
    """1.02 as typed; 102% as a percentage. A bare 102 is refused rather than guessed."""
    if not text.strip():
        return None
    number = _number(text)
    if number.endswith("%"):
        return float(number[:-1]) / 100
    if float(number) > 10:
        raise _CellError(
            f"比率 {text!r} は百分率に見えます。1.02 または 102% と書いてください "
            f"(looks like a percentage: write 1.02 or 102%)"
        )
    return float(number)


def _percent(text: str) -> float | None:
    return float(_number(text).rstrip("%")) if text.strip() else None


def _flag(text: str) -> bool:
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if value in TRUE | FALSE:
        return value in TRUE
    raise _CellError(f"1/0 または true/false で入力してください: {text!r} (use 1/0 or true/false)")


def _kind(text: str, name: str) -> MunicipalityKind:
    """As typed; when empty, from the name's last character (市, 町, 村, 区)."""
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if not value:
        value = {"市": "市", "町": "町", "村": "村", "区": "特別区"}.get(name[-1:], "")
    if value in KINDS:
        return KINDS[value]
    if not text.strip():
        raise _CellError("種別を入力してください: city/town/village/special_ward (kind is required)")
    raise _CellError(
        f"種別 {text!r} は city/town/village/special_ward か 市/町/村/特別区 です (unknown kind)"
    )


def _former(text: str) -> list[dict[str, Any]]:
    out = []
    for part in filter(str.strip, re.split(r"[;；]", text)):
        fields = [f.strip() for f in re.split(r"[:：]", part)]
        if len(fields) > 3 or not fields[0]:
            raise _CellError(
                f"旧市は 名称:人口:比率 を ; で区切ります: {part!r} (use name:population:ratio;…)"
            )
        name, population, ratio = [*fields, "", ""][:3]
        out.append({"name": name, "population": _int(population), "day_night_ratio": _ratio(ratio)})
    return out


PARSERS = {
    "population": _int,
    "day_night_ratio": _ratio,
    "designated_city": _flag,
    "core_city": _flag,
    "commute_share_to_metro": _percent,
    "former_cities": _former,
}


def _consistency(m: Municipality) -> list[tuple[str, str]]:
    """Cross-column checks the model alone cannot make: (column, reason) pairs.

    The code's third digit tells the kind: 1xx designated cities and Tokyo's wards, 2xx cities,
    3xx–7xx towns and villages."""
    digit, problems = m.code[2], []
    if m.kind is MunicipalityKind.city and digit not in "12":
        problems.append(("kind", f"団体コード {m.code} は町村のコードです (a town/village code)"))
    if m.kind in (MunicipalityKind.town, MunicipalityKind.village) and digit in "12":
        problems.append(("kind", f"団体コード {m.code} は市区のコードです (a city/ward code)"))
    if m.kind is MunicipalityKind.special_ward and not m.code.startswith("131"):
        problems.append(("kind", f"特別区のコードは131で始まります: {m.code} (special wards are 131xx)"))
    if m.designated_city and (m.kind is not MunicipalityKind.city or digit != "1"):
        problems.append(("designated_city", f"指定都市のコードは3桁目が1です: {m.code} (designated: xx1xx)"))
    if m.designated_city and m.core_city:
        problems.append(
            ("core_city", "指定都市と中核市を兼ねることはできません (both designated and core city)")
        )
    return problems


def _row(number: int, cells: dict[str, str]) -> tuple[Municipality | None, list[RowError]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {"name": cells["name"].strip()}
    try:
        values["code"] = normalize_municipality_code(cells["code"])
    except CodeError as exc:
        lost_zero = len(cells["code"].strip()) == 4
        hint = " 先頭の0が消えていませんか (leading zero lost?)" if lost_zero else ""
        errors.append(RowError(number, "code", f"{exc}{hint}"))
    try:
        values["kind"] = _kind(cells.get("kind", ""), values["name"])
    except _CellError as exc:
        errors.append(RowError(number, "kind", str(exc)))
    for column, parse in PARSERS.items():
        if column in cells:
            try:
                values[column] = parse(cells[column])
            except _CellError as exc:
                errors.append(RowError(number, column, str(exc)))
    try:
        municipality = Municipality.model_validate(values)
    except ValidationError as exc:
        failed = {e.column for e in errors}
        for err in exc.errors():
            column = str(err["loc"][0]) if err["loc"] else None
            if column in failed or err["type"] == "missing":
                continue  # already reported: the cell could not be read
            loc = ".".join(str(part) for part in err["loc"])
            errors.append(RowError(number, column, f"{loc}: {err['msg']}"))
        return None, errors
    if errors:
        return None, errors
    errors += [RowError(number, column, reason) for column, reason in _consistency(municipality)]
    return (None if errors else municipality), errors


def parse_municipality_csv(data: bytes) -> list[Municipality]:
    """All municipalities of the file, or CsvImportError listing every bad row."""
    records = list(csv.reader(io.StringIO(_decode(data), newline="")))
    while records and not any(cell.strip() for cell in records[-1]):
        records.pop()
    if not records:
        raise CsvImportError(
            [RowError(1, None, "見出し行がありません (empty file; a header row is required)")]
        )
    columns, errors = _header(records[0])
    if errors:
        raise CsvImportError(errors)
    if len(records) == 1:
        raise CsvImportError([RowError(2, None, "データ行がありません (no data rows)")])
    if len(records) - 1 > MAX_ROWS:
        raise CsvImportError([RowError(MAX_ROWS + 2, None, f"{MAX_ROWS} 行を超えています (too many rows)")])
    result: list[Municipality] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if any(cell.strip() for cell in cells[len(columns) :]):
            errors.append(
                RowError(
                    number, None, f"見出しより列が多くあります (more cells than the header's {len(columns)})"
                )
            )
            continue
        named = {col: (cells[i] if i < len(cells) else "") for i, col in enumerate(columns) if col}
        municipality, row_errors = _row(number, named)
        errors += row_errors
        if municipality is None:
            continue
        if municipality.code in seen:
            first = seen[municipality.code]
            errors.append(
                RowError(number, "code", f"{first} 行目と同じ団体コードです (duplicate of row {first})")
            )
        seen.setdefault(municipality.code, number)
        result.append(municipality)
    if errors:
        raise CsvImportError(errors)
    return result
