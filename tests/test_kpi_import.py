"""Bulk entry of actuals (CSV/.xlsx) and the KPI sheet export, including the round trip."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest

from kenflow.kpi_export import HEADERS, export_csv, export_rows, export_xlsx
from models.kpi import KpiActual, KpiDefinition, KpiKind, KpiPoint, KpiStatus, KpiTarget
from models.kpi_import import MAX_ROWS, BulkImportError, RowError, parse_actuals

TODAY = date(2020, 6, 1)


def kpi(
    kid: str, kind: KpiKind, b: float, t: float, *, unit: str = "", start: int | None = None
) -> KpiDefinition:
    return KpiDefinition(
        id=kid,
        name=f"{kid} の指標",
        perspective="network",
        field="a",
        unit=unit,
        kind=kind,
        targets=[
            KpiTarget(
                version=1,
                baseline=KpiPoint(value=b, fy=2018 if start else 2015, from_fy=start),
                target=KpiPoint(value=t, fy=2021, from_fy=start),
            )
        ],
    )


KNOWN = {
    k.id: k
    for k in [
        kpi("bus", KpiKind.higher, 9259, 12000, unit="人"),
        kpi("imari", KpiKind.lower, 211145, 186395, unit="千円"),
        kpi("nasu", KpiKind.milestone, 0, 1),
        kpi("tagawa", KpiKind.cumulative, 134, 350, unit="人", start=2017),
        kpi("job", KpiKind.maintain, 53, 53, unit="%"),
    ]
}
MANY = {f"k{i:03d}": kpi(f"k{i:03d}", KpiKind.higher, 0, 1000) for i in range(100)}


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def parse(data: bytes, name: str = "actuals.csv", known: dict[str, KpiDefinition] = KNOWN) -> list[KpiActual]:
    return parse_actuals(data, name, known, "clerk@example.jp", today=TODAY)


def errors_of(
    data: bytes, name: str = "actuals.csv", known: dict[str, KpiDefinition] = KNOWN
) -> list[RowError]:
    with pytest.raises(BulkImportError) as info:
        parse(data, name, known)
    return info.value.errors


HEADER = ["kpi_id", "fiscal_year", "value", "estimate", "from_fiscal_year", "note"]
GOOD = [
    HEADER,
    ["bus", "H30", "10,458", "見込", "", "H30見込"],
    ["bus", "2017", "9,800", "確定", "", ""],
    ["imari", "R元", "190,000千円", "", "", ""],
    ["nasu", "平成29年度", "策定済", "0", "", ""],
    ["tagawa", "R1", "240", "false", "H29", ""],
    ["tagawa", "R2", "300", "1", "", "開始年度は省略可"],
    ["job", "令和2年度", "５３．０％", "true", "", ""],
]


def test_a_good_csv_parses_fully() -> None:
    got = parse(csv_bytes(GOOD))
    assert [(a.kpi_id, a.fy, a.value, a.estimate) for a in got] == [
        ("bus", 2018, 10458.0, True),
        ("bus", 2017, 9800.0, False),
        ("imari", 2019, 190000.0, False),
        ("nasu", 2017, 1.0, False),
        ("tagawa", 2019, 240.0, False),
        ("tagawa", 2020, 300.0, True),
        ("job", 2020, 53.0, True),
    ]
    assert got[3].label == "策定済"
    assert got[4].from_fy == 2017 and got[5].from_fy == 2017  # defaulted to the KPI's start
    assert got[0].note == "H30見込" and all(a.entered_by == "clerk@example.jp" for a in got)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_encodings_and_japanese_headers(encoding: str) -> None:
    rows = [["指標ID", "年度", "実績値", "見込", "累計開始年度", "備考"], *GOOD[1:]]
    assert len(parse(csv_bytes(rows, encoding))) == 7


def test_one_bad_row_rejects_the_whole_file() -> None:
    rows = [*GOOD, ["bus", "H31", "12,0000", "", "", ""]]  # row 9: a misplaced separator
    errors = errors_of(csv_bytes(rows))
    assert len(errors) == 1
    assert errors[0].row == 9 and errors[0].column == "value"
    assert "12,0000" in errors[0].reason and "(" in errors[0].reason  # Japanese (English)


def test_every_error_is_reported_with_its_row() -> None:
    rows = [
        HEADER,
        ["nope", "H30", "1", "", "", ""],  # 2: unknown KPI
        ["bus", "X30", "1", "", "", ""],  # 3: bad FY
        ["bus", "H30", "abc", "", "", ""],  # 4: bad value
        ["bus", "H29", "100", "", "", ""],  # 5: fine
        [],  # 6: blank line, skipped but counted
        ["bus", "平成29年度", "200", "", "", ""],  # 7: duplicate of row 5 (H29 = 平成29年度)
        ["bus", "R2", "1", "たぶん", "", ""],  # 8: bad estimate flag
        ["imari", "R2", "190,000円", "", "", ""],  # 9: 円 for a 千円 KPI
        ["nasu", "R2", "2", "", "", ""],  # 10: milestone must be 0/1
        ["bus", "R3", "策定済", "", "", ""],  # 11: a label for a numeric KPI
        ["tagawa", "R2", "300", "", "H30", ""],  # 12: span must start in H29
        ["bus", "R3", "5", "", "H29", ""],  # 13: a span on a non-cumulative KPI
        ["", "R3", "5", "", "", ""],  # 14: empty kpi_id
    ]
    errors = errors_of(csv_bytes(rows))
    got = {(e.row, e.column) for e in errors}
    assert got == {
        (2, "kpi_id"),
        (3, "fiscal_year"),
        (4, "value"),
        (7, "fiscal_year"),
        (8, "estimate"),
        (9, "value"),
        (10, "value"),
        (11, "value"),
        (12, "from_fiscal_year"),
        (13, "from_fiscal_year"),
        (14, "kpi_id"),
    }
    dup = next(e for e in errors if e.row == 7)
    assert "5行目" in dup.reason and "duplicate of row 5" in dup.reason
    assert all(e.reason.endswith(")") for e in errors)


def test_rows_without_a_value_are_skipped_but_checked() -> None:
    rows = [HEADER, ["bus", "H30", "1", "", "", ""], ["imari", "H30", "", "", "", ""]]
    assert [a.kpi_id for a in parse(csv_bytes(rows))] == ["bus"]
    errors = errors_of(csv_bytes([*rows, ["ghost", "H30", "", "", "", ""]]))
    assert [(e.row, e.column) for e in errors] == [(4, "kpi_id")]


@pytest.mark.parametrize(
    ("data", "name", "fragment"),
    [
        (b"", "a.csv", "empty"),
        (b"kpi_id,fiscal_year,value\r\n", "a.csv", "no rows"),
        (b"kpi_id,fiscal_year,value\r\n,,\r\n", "a.csv", "no rows"),
        (b"\r\n\r\n", "a.csv", "empty"),
        (b"kpi_id,fy,value\r\n", "a.pdf", ".csv or .xlsx"),
        (b"whatever", "a.xls", ".xlsx"),
        (b"not a zip", "a.xlsx", "cannot read"),
        ("kpi_id,fiscal_year,value\r\n".encode("utf-16"), "a.csv", "UTF-16"),
        (b"kpi_id,fiscal_year,value\r\nbus,H30,\x82\xff\r\n", "a.csv", "cp932"),  # neither encoding
    ],
)
def test_file_errors(data: bytes, name: str, fragment: str) -> None:
    errors = errors_of(data, name)
    assert len(errors) == 1 and errors[0].row is None
    assert fragment in errors[0].reason


def test_wrong_columns() -> None:
    errors = errors_of(csv_bytes([["kpi_id", "value", "vaule", "value"], ["bus", "1", "1", "1"]]))
    assert {(e.row, e.column) for e in errors} == {(1, "vaule"), (1, "value"), (1, "fiscal_year")}
    assert any("missing column 'fiscal_year'" in e.reason for e in errors)
    # a value under a column without a header is not silently dropped
    errors = errors_of(csv_bytes([["kpi_id", "fiscal_year", "value"], ["bus", "H30", "1", "oops"]]))
    assert [(e.row, e.column) for e in errors] == [(2, None)]


def test_size_limits() -> None:
    big = b"kpi_id,fiscal_year,value\r\n" + b"x" * (5 * 1024 * 1024)
    assert "5 MB" in errors_of(big)[0].reason
    rows = [["kpi_id", "fiscal_year", "value"]] + [
        [f"k{i % 100:03d}", str(1990 + i // 100), "1"] for i in range(MAX_ROWS + 1)
    ]
    assert "10,000" in errors_of(csv_bytes(rows), known=MANY)[0].reason


def many_rows() -> list[list[object]]:
    # 100 KPIs × 5 FYs = 500 distinct (kpi_id, FY) pairs, FYs written in mixed era forms
    forms = ["H27", "平成28年度", "2017", "H30", "R元"]
    return [
        [f"k{i % 100:03d}", forms[i // 100], f"{i * 7:,}", "見込" if i % 3 == 0 else "", "", f"row {i}"]
        for i in range(500)
    ]


def test_a_500_row_csv_and_xlsx_parse_fully() -> None:
    rows = many_rows()
    from_csv = parse(csv_bytes([HEADER, *[[str(c) for c in r] for r in rows]]), known=MANY)
    assert len(from_csv) == 500
    assert from_csv[499].value == 499 * 7 and from_csv[499].fy == 2019 and from_csv[0].estimate
    # the same sheet in Excel, with numeric cells where Excel would have them
    xrows = [[r[0], 2015 + i // 100, i * 7, r[3] == "見込", None, r[5]] for i, r in enumerate(rows)]
    from_xlsx = parse(xlsx_bytes([HEADER, *xrows]), "actuals.xlsx", known=MANY)
    assert [(a.kpi_id, a.fy, a.value, a.estimate) for a in from_xlsx] == [
        (a.kpi_id, a.fy, a.value, a.estimate) for a in from_csv
    ]


def test_xlsx_bad_row_numbers_match_the_sheet() -> None:
    data = xlsx_bytes([HEADER, ["bus", 2018, 10458, None], [None], ["bus", "H99", "1", None]])
    errors = errors_of(data, "a.xlsx")
    assert [(e.row, e.column) for e in errors] == [(4, "fiscal_year")]


# --- export ---------------------------------------------------------------------------------


ACTUALS = [
    KpiActual(kpi_id="bus", value=10458, fy=2018, estimate=True),
    KpiActual(kpi_id="bus", value=11000, fy=2019),
    KpiActual(kpi_id="imari", value=190000, fy=2019),
    KpiActual(kpi_id="nasu", value=1, fy=2018),
    KpiActual(kpi_id="tagawa", value=240, fy=2019, from_fy=2017),
    KpiActual(kpi_id="job", value=53.5, fy=2019),
]


def test_excel_round_trip_of_the_export() -> None:
    rows = export_rows(KNOWN.values(), ACTUALS, [2018, 2019, 2021], zone_id="tagawa-zone")
    assert len(rows) == 5 * 3
    wb = openpyxl.load_workbook(io.BytesIO(export_xlsx(rows)))
    ws = wb.worksheets[0]
    table = list(ws.iter_rows(values_only=True))
    assert table[0] == HEADERS
    col = {h: i for i, h in enumerate(HEADERS)}
    bus18 = table[1]
    assert bus18[col["指標ID"]] == "bus" and bus18[col["年度"]] == "平成30年度"
    assert bus18[col["実績値"]] == 10458 and bus18[col["見込"]] == "見込"
    # (10458 − 9259)/(12000 − 9259) = 1199/2741 = 43.7%
    # expected in H30 = 9259 + 2741·(2018 − 2015)/(2021 − 2015) = 9259 + 1370.5 = 10629.5 → 遅れ, D
    assert bus18[col["達成率(%)"]] == 43.7 and bus18[col["期待値"]] == 10629.5
    assert (bus18[col["状況"]], bus18[col["評価"]]) == ("遅れ", "D")
    assert table[2][col["年度"]] == "令和元年度" and table[3][col["状況"]] == "データなし"
    tagawa = next(r for r in table if r[col["指標ID"]] == "tagawa" and r[col["年度"]] == "令和元年度")
    assert tagawa[col["基準年度"]] == "平成29年度〜平成30年度"
    assert tagawa[col["累計開始年度"]] == "平成29年度" and tagawa[col["目標年度"]] == "平成29年度〜令和3年度"
    # (240 − 134)/(350 − 134) = 106/216 = 49.1%; expected 134 + 216·(2019 − 2018)/(2021 − 2018) = 206
    assert tagawa[col["達成率(%)"]] == 49.1 and tagawa[col["期待値"]] == 206 and tagawa[col["状況"]] == "順調"
    # the exported sheet can be uploaded again and yields the same actuals
    back = parse(export_xlsx(rows), "kpi.xlsx")
    key = sorted((a.kpi_id, a.fy, a.value, a.estimate, a.from_fy) for a in ACTUALS)
    assert sorted((a.kpi_id, a.fy, a.value, a.estimate, a.from_fy) for a in back) == key


def test_csv_export_round_trip() -> None:
    rows = export_rows(KNOWN.values(), ACTUALS, [2018, 2019])
    data = export_csv(rows)
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].split(",") == list(HEADERS)
    back = parse(data, "kpi.csv")
    assert sorted((a.kpi_id, a.fy, a.value) for a in back) == sorted(
        (a.kpi_id, a.fy, a.value) for a in ACTUALS
    )
    # tuples (definition, evaluation) are accepted as rows too
    ev = rows[0].evaluation
    assert ev.status is KpiStatus.behind
    assert export_csv([(rows[0].kpi, ev)]).decode("utf-8-sig").splitlines()[1].split(",")[1] == "bus"
