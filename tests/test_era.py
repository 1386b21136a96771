"""Eras (和暦) and fiscal years (年度): every form the seed and clerks write, every refusal."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import models.era as era
import models.fiscal as fiscal
from models.era import EraError, format_date_ja
from models.fiscal import (
    FiscalYear,
    FiscalYearError,
    fiscal_year_end,
    fiscal_year_of,
    fiscal_year_start,
    format_fiscal_year,
    parse_fiscal_year,
)

TODAY = date(2025, 6, 1)  # FY2025; fixed so the "30 years ahead" rule is deterministic


@pytest.mark.parametrize(
    ("text", "fy"),
    [
        ("H27", 2015),
        ("h27", 2015),
        ("平成27年度", 2015),
        ("平成27", 2015),
        ("平成27年", 2015),
        ("R元", 2019),
        ("令和元年度", 2019),
        ("R1", 2019),
        ("R3", 2021),
        ("2015年度", 2015),
        ("2015", 2015),
        (2015, 2015),
        ("FY2015", 2015),
        ("fy 2015", 2015),
        ("２０１５年度", 2015),
        ("Ｈ２７", 2015),
        ("ｒ３", 2021),
        ("令和３年度", 2021),
        ("S63", 1988),
        ("昭和63年度", 1988),
        ("S64", 1989),  # the FY1989 budget was drafted as 昭和64年度
        ("H31", 2019),  # both H31 and R元 are FY2019
        ("H32", 2020),  # targets set before the era change (seed: 目標値 35人（H32）)
        ("H33", 2021),  # seed: 目標値 35件（H33）
        ("H40", 2028),
        (" R3 ", 2021),
        ("R.3", 2021),
        ("平成二十七年度", 2015),
        ("令和三年度", 2021),
        ("令和十年度", 2028),
        ("令和3年度 (2021)", 2021),  # format_fiscal_year(style="both") reads back
        ("令和３年度（２０２１）", 2021),
    ],
)
def test_accepted_forms(text: str | int, fy: int) -> None:
    assert parse_fiscal_year(text, today=TODAY) == fy


@pytest.mark.parametrize(
    ("text", "fy"),
    # as they appear in the seed's KPI tables, full-width digits included
    [("H26", 2014), ("H29", 2017), ("H30", 2018), ("R２", 2020), ("R３", 2021), ("R５", 2023)]
    + [("平成２０年", 2008), ("平成３１年", 2019), ("令和元年", 2019), ("平成24年度", 2012)],
)
def test_seed_forms(text: str, fy: int) -> None:
    assert parse_fiscal_year(text, today=TODAY) == fy


@pytest.mark.parametrize(
    ("text", "why_ja", "why_en"),
    [
        ("R0", "令和は元年(1年)から始まります", "Reiwa starts at year 1"),
        ("H0", "平成は元年(1年)から始まります", "Heisei starts at year 1"),
        ("令和0年度", "令和は元年(1年)から始まります", "no year 0"),
        ("X5", "略号「X」は使えません", "unknown era letter 'X'"),
        ("Q12", "略号「Q」", "unknown era letter 'Q'"),
        ("M5", "明治・大正", "not supported"),
        ("大正10年度", "明治・大正", "not supported"),
        ("西暦5年", "元号「西暦」は使えません", "unknown era"),
        ("令和99年度", "30年を超えて先", "more than 30 years ahead"),
        ("2100", "30年を超えて先", "more than 30 years ahead"),
        ("H99", "30年を超えて先", "more than 30 years ahead"),
        ("1988", "昭和の年度は S63", "years before 1989"),
        ("1915年度", "昭和の年度は S63", "years before 1989"),
        (1900, "昭和の年度は S63", "years before 1989"),
        ("S65", "昭和は64年", "Showa ended"),
        ("abc", "読み取れません", "cannot read fiscal year"),
        ("R3.5", "読み取れません", "cannot read"),
        ("2015-16", "読み取れません", "cannot read"),
        ("15", "読み取れません", "cannot read"),
        ("", "空です", "empty"),
        ("   ", "空です", "empty"),
        ("令和3年度 (2020)", "括弧内の2020と一致しません", "not 2020"),
    ],
)
def test_refusals_say_why(text: str | int, why_ja: str, why_en: str) -> None:
    with pytest.raises(FiscalYearError) as info:
        parse_fiscal_year(text, today=TODAY)
    message = str(info.value)
    assert why_ja in message and why_en in message
    assert message.index(why_ja) < message.rindex(" (")  # Japanese first, English in parentheses


@pytest.mark.parametrize("value", [2015.0, None, True, b"H27", ["R3"]])
def test_wrong_types_are_refused(value: object) -> None:
    with pytest.raises(FiscalYearError, match="文字列または整数"):
        parse_fiscal_year(value, today=TODAY)  # type: ignore[arg-type]


def test_fiscal_year_error_is_a_value_error() -> None:
    assert issubclass(FiscalYearError, ValueError)


def test_thirty_years_is_counted_from_the_fiscal_year_of_today() -> None:
    assert parse_fiscal_year("R37", today=date(2025, 4, 1)) == 2055  # exactly 30 ahead of FY2025
    with pytest.raises(FiscalYearError, match="30"):
        parse_fiscal_year("R38", today=date(2025, 4, 1))
    with pytest.raises(FiscalYearError, match="FY2024"):  # 31 March 2025 is still FY2024
        parse_fiscal_year("R37", today=date(2025, 3, 31))


def test_default_today_is_used_without_a_date() -> None:
    current = fiscal_year_of(datetime.now(fiscal.JST).date())
    assert parse_fiscal_year(current + 30) == current + 30
    with pytest.raises(FiscalYearError):
        parse_fiscal_year(current + 31)


def test_inside_a_workflow_the_workflow_clock_is_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """date.today() is forbidden in the Temporal sandbox; FiscalYear fields must still validate."""
    from temporalio import workflow

    monkeypatch.setattr(workflow, "in_workflow", lambda: True)
    monkeypatch.setattr(workflow, "now", lambda: datetime(2000, 3, 31, 15, 0, tzinfo=UTC))
    assert fiscal.current_jst_date() == date(2000, 4, 1)  # already 1 April in Japan
    assert parse_fiscal_year(2030) == 2030
    with pytest.raises(FiscalYearError, match="FY2000"):
        parse_fiscal_year("R13")  # 2031 is 31 years after FY2000


@pytest.mark.parametrize(
    ("fy", "ja", "short", "both"),
    [
        (2021, "令和3年度", "R3", "令和3年度 (2021)"),
        (2019, "令和元年度", "R元", "令和元年度 (2019)"),
        (2020, "令和2年度", "R2", "令和2年度 (2020)"),
        (2018, "平成30年度", "H30", "平成30年度 (2018)"),
        (2015, "平成27年度", "H27", "平成27年度 (2015)"),
        (1989, "平成元年度", "H元", "平成元年度 (1989)"),
        (1988, "昭和63年度", "S63", "昭和63年度 (1988)"),
    ],
)
def test_format_fiscal_year(fy: int, ja: str, short: str, both: str) -> None:
    assert format_fiscal_year(fy) == ja
    assert format_fiscal_year(fy, style="ja") == ja
    assert format_fiscal_year(fy, style="short") == short
    assert format_fiscal_year(fy, style="both") == both


def test_format_refuses_what_it_cannot_name() -> None:
    with pytest.raises(FiscalYearError, match="昭和より前"):
        format_fiscal_year(1900)
    with pytest.raises(FiscalYearError):
        format_fiscal_year("2021")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="style"):
        format_fiscal_year(2021, style="long")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("d", "text"),
    [
        (date(2021, 4, 1), "令和3年4月1日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2015, 12, 31), "平成27年12月31日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        # an aware instant is dated in Japan: 15:00 UTC on 30 April is 1 May in Tokyo
        (datetime(2019, 4, 30, 15, 0, tzinfo=UTC), "令和元年5月1日"),
        (datetime(2019, 4, 30, 14, 59, tzinfo=UTC), "平成31年4月30日"),
    ],
)
def test_format_date_ja(d: date, text: str) -> None:
    assert format_date_ja(d) == text
    assert fiscal.format_date_ja(d) == text


def test_format_date_before_showa_is_refused() -> None:
    with pytest.raises(EraError, match="昭和より前"):
        format_date_ja(date(1926, 12, 24))


def test_fiscal_and_era_modules_share_the_same_functions() -> None:
    for name in ("parse_fiscal_year", "format_fiscal_year", "FiscalYearError", "format_date_ja", "JST"):
        assert getattr(fiscal, name) is getattr(era, name)


def test_existing_fiscal_helpers_unchanged() -> None:
    assert fiscal_year_of(date(2020, 3, 31)) == 2019
    assert fiscal_year_of(date(2020, 4, 1)) == 2020
    assert fiscal_year_start(2021) == date(2021, 4, 1)
    assert fiscal_year_end(2021) == date(2022, 3, 31)
    assert fiscal.add_years(date(2020, 2, 29), 1) == date(2021, 2, 28)


class _Target(BaseModel):
    fy: FiscalYear


@pytest.mark.parametrize(
    ("value", "fy"), [("H27", 2015), ("令和元年度", 2019), ("２０２１", 2021), (2021, 2021)]
)
def test_fiscal_year_type_accepts_text_forms(value: object, fy: int) -> None:
    target = _Target(fy=value)  # type: ignore[arg-type]
    assert target.fy == fy
    assert target.model_dump() == {"fy": fy}
    assert _Target.model_validate_json(target.model_dump_json()).fy == fy


@pytest.mark.parametrize("value", ["R0", "X5", "令和99年度", 2015.5, None])
def test_fiscal_year_type_rejects(value: object) -> None:
    with pytest.raises(ValidationError):
        _Target(fy=value)  # type: ignore[arg-type]


def test_fiscal_year_type_schema_admits_text() -> None:
    schema = _Target.model_json_schema()["properties"]["fy"]
    assert {"type": "integer"} in schema["anyOf"] and {"type": "string"} in schema["anyOf"]


@given(
    fy=st.integers(min_value=1926, max_value=fiscal_year_of(TODAY) + 30),
    style=st.sampled_from(["ja", "short", "both"]),
    full_width=st.booleans(),
)
def test_format_then_parse_round_trips(fy: int, style: str, full_width: bool) -> None:
    text = format_fiscal_year(fy, style=style)  # type: ignore[arg-type]
    if full_width:  # clerks' IMEs produce full-width digits and letters: Ｒ３
        text = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)
        assert unicodedata.normalize("NFKC", text) == format_fiscal_year(fy, style=style)  # type: ignore[arg-type]
    assert parse_fiscal_year(text, today=TODAY) == fy


@given(fy=st.integers(min_value=1989, max_value=fiscal_year_of(TODAY) + 30))
def test_gregorian_forms_round_trip(fy: int) -> None:
    for text in (fy, str(fy), f"{fy}年度", f"FY{fy}"):
        assert parse_fiscal_year(text, today=TODAY) == fy


@given(d=st.dates(min_value=date(1926, 12, 25), max_value=date(2100, 12, 31)))
def test_date_era_year_agrees_with_fiscal_era(d: date) -> None:
    """The era printed for a date is the one in force that day; its year number is consistent."""
    text = format_date_ja(d)
    e = era.era_of_date(d)
    assert text.startswith(e.name) and text.endswith(f"{d.month}月{d.day}日")
    assert d >= e.start
