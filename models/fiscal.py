"""Fiscal years (年度, April–March) and the dates the workflows reason with.

Fiscal years are stored as the Gregorian year in which they start (FY2021 = 令和3年度 =
2021-04-01..2022-03-31). Reading and writing them in 和暦 ("H27", "令和元年度") lives in
models.era and is re-exported here, so either module serves.
"""

from __future__ import annotations

from datetime import date, datetime

from .era import (
    JST,
    MAX_YEARS_AHEAD,
    FiscalYear,
    FiscalYearError,
    FiscalYearStyle,
    format_date_ja,
    format_fiscal_year,
    parse_fiscal_year,
)

__all__ = [
    "JST",
    "MAX_YEARS_AHEAD",
    "FiscalYear",
    "FiscalYearError",
    "FiscalYearStyle",
    "add_years",
    "current_jst_date",
    "fiscal_year_end",
    "fiscal_year_of",
    "fiscal_year_start",
    "format_date_ja",
    "format_fiscal_year",
    "jst_date",
    "jst_midnight",
    "parse_fiscal_year",
]


def fiscal_year_of(d: date) -> int:
    return d.year if d.month >= 4 else d.year - 1


def fiscal_year_start(fy: int) -> date:
    return date(fy, 4, 1)


def fiscal_year_end(fy: int) -> date:
    return date(fy + 1, 3, 31)


def jst_date(moment: datetime) -> date:
    """The calendar date in Japan at an aware instant (workflow.now() is UTC)."""
    return moment.astimezone(JST).date()


def jst_midnight(d: date) -> datetime:
    """The aware instant at which a Japanese calendar day begins."""
    return datetime(d.year, d.month, d.day, tzinfo=JST)


def add_years(d: date, years: int) -> date:
    """Same day N years later; Feb 29 falls back to Feb 28."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def current_jst_date() -> date:
    """Today in Japan. Inside a Temporal workflow the sandbox forbids the wall clock, so the
    workflow's deterministic clock is used instead; that keeps FiscalYear fields valid there."""
    from temporalio import workflow

    if workflow.in_workflow():
        return jst_date(workflow.now())
    return datetime.now(JST).date()
