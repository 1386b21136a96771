"""The municipality figures CSV: what clerks' spreadsheets really contain, and every bad row."""

from __future__ import annotations

import pytest

from models.municipality import MunicipalityKind
from models.municipality_csv import CsvImportError, RowError, parse_municipality_csv

HEADER = (
    "code,name,kind,population,day_night_ratio,designated_city,core_city,commute_share_to_metro,former_cities"
)


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


def _errors(data: bytes) -> list[RowError]:
    with pytest.raises(CsvImportError) as info:
        parse_municipality_csv(data)
    return info.value.errors


def test_a_good_file() -> None:
    data = _csv(
        '25202,彦根市,city,"112,156",1.02,0,0,3.5,',
        "252034,長浜市,市,117000,0.98,false,FALSE,,旧長浜市:60000:1.05;旧浅井町::0.9",
        "25441,豊郷町,町,7400,,,,,",
        "01100,札幌市,city,1952356,1.0,1,0,,",
    )
    hikone, nagahama, toyosato, sapporo = parse_municipality_csv(data)
    assert (hikone.code, hikone.population, hikone.day_night_ratio) == ("252026", 112156, 1.02)
    assert hikone.commute_share_to_metro == 3.5 and not hikone.merged
    assert nagahama.code == "252034" and nagahama.kind is MunicipalityKind.city
    assert [(f.name, f.population, f.day_night_ratio) for f in nagahama.former_cities] == [
        ("旧長浜市", 60000, 1.05),
        ("旧浅井町", None, 0.9),
    ]
    assert toyosato.kind is MunicipalityKind.town and toyosato.day_night_ratio is None
    assert not toyosato.designated_city and toyosato.commute_share_to_metro is None
    assert sapporo.designated_city and sapporo.code == "011002"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp932", "shift_jis"])
def test_encodings(encoding: str) -> None:
    text = f'{HEADER}\r\n25202,彦根市,市,"112,156",1.02,0,0,,\r\n'
    [m] = parse_municipality_csv(text.encode(encoding))
    assert (m.name, m.population) == ("彦根市", 112156)


def test_japanese_headers_full_width_digits_and_percent_ratio() -> None:
    data = _csv("２５２０２,彦根市,,１１２，１５６,102%", header="団体コード,名称,種別,人口,昼夜間人口比率")
    [m] = parse_municipality_csv(data)
    assert (m.code, m.kind, m.population, m.day_night_ratio) == (
        "252026",
        MunicipalityKind.city,
        112156,
        1.02,
    )


def test_only_code_and_name_are_required() -> None:
    [m] = parse_municipality_csv(_csv("13101,千代田区", header="code,name"))
    assert m.kind is MunicipalityKind.special_ward and m.population is None


def test_every_bad_row_is_reported_and_nothing_is_returned() -> None:
    data = _csv(
        "25202,彦根市,city,112156,1.02,0,0,,",  # row 2: good
        "252027,長浜市,city,117000,,,,,",  # row 3: wrong check digit
        "25203,長浜市,big,abc,,maybe,,,",  # row 4: kind, population, designated_city
        "25441,豊郷町,town,7400,102.3,,,150,",  # row 5: ratio as percentage, share > 100
    )
    errors = _errors(data)
    assert {(e.row, e.column) for e in errors} == {
        (3, "code"),
        (4, "kind"),
        (4, "population"),
        (4, "designated_city"),
        (5, "day_night_ratio"),
        (5, "commute_share_to_metro"),
    }
    assert all(e.row != 2 for e in errors)  # the good row is not an error
    assert "252027" in next(e.reason for e in errors if e.row == 3)  # says which code


def test_row_numbers_follow_the_spreadsheet() -> None:
    data = _csv(
        '25202,"彦根市\n(ひこね)",city,1,,,,,',  # one spreadsheet row despite the line break
        ",,,,,,,,",  # blank row 3 is skipped but still counted
        "x,豊郷町,town,1,,,,,",  # row 4
    )
    assert [(e.row, e.column) for e in _errors(data)] == [(4, "code")]


def test_duplicate_codes() -> None:
    errors = _errors(_csv("25202,彦根市,city,,,,,,", "252026,彦根市,city,,,,,,"))
    assert [(e.row, e.column) for e in errors] == [(3, "code")] and "2" in errors[0].reason


def test_header_problems() -> None:
    errors = _errors(_csv("25202,彦根市,1", header="code,populaton,code"))
    assert {(e.row, e.column) for e in errors} == {(1, "populaton"), (1, "code"), (1, "name")}
    assert all(e.row == 1 for e in errors)


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        ("1202,函館市,city,,,,,,", "code", "先頭の0"),  # Excel dropped the leading zero
        ("25202,彦根市,town,,,,,,", "kind", "市区のコード"),
        ("25441,豊郷町,city,,,,,,", "kind", "町村のコード"),
        ("25202,彦根市,city,,,1,,,", "designated_city", "指定都市"),
        ("01100,札幌市,city,,,1,1,,", "core_city", "中核市"),
        ("25202,彦根市,special_ward,,,,,,", "kind", "131"),
        ("25202,ひこね,,,,,,,", "kind", "種別"),
        ("25202,彦根市,city,1.5,,,,,", "population", "整数"),
        ("25202,彦根市,city,-5,,,,,", "population", "population"),
        ("25202,彦根市,city,,,,,,:1:1", "former_cities", "旧市"),
        ("25202,彦根市,city,,,,,,旧A:x:1", "former_cities", "数値"),
        ("25202,,city,,,,,,", "name", "name"),
    ],
)
def test_cell_errors(row: str, column: str, words: str) -> None:
    [error] = _errors(_csv(row))
    assert (error.row, error.column) == (2, column)
    assert words in error.reason


def test_extra_cells_and_empty_files() -> None:
    [error] = _errors(_csv("25202,彦根市,city,,,,,,,surplus"))
    assert (error.row, error.column) == (2, None)
    assert _errors(b"")[0].row == 1
    assert _errors(HEADER.encode() + b"\n\n")[0].row == 2


def test_undecodable_bytes() -> None:
    [error] = _errors(HEADER.encode() + b"\n25202,\x81\x20,city\n")
    assert error.row == 0 and "UTF-8" in error.reason


def test_the_error_message_lists_rows() -> None:
    with pytest.raises(CsvImportError) as info:
        parse_municipality_csv(_csv(*[f"x{i},A市,city,,,,,," for i in range(25)]))
    message = str(info.value)
    assert "25 件" in message and "2行目 [code]" in message and "ほか 5 件" in message


@pytest.mark.parametrize("n", [0, 7, 999, 1000, 112156, 3_724_844])
def test_thousands_separators(n: int) -> None:
    [m] = parse_municipality_csv(_csv(f'25202,彦根市,city,"{n:,}",,,,,'))
    assert m.population == n


def test_a_shift_jis_file_that_is_not_shift_jis() -> None:
    # bytes cp932 decodes into private-use characters: neither UTF-8 nor Shift_JIS
    [error] = _errors(HEADER.encode() + b"\n25202,\xfd\xfe,city\n")
    assert error.row == 0
