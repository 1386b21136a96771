"""Japanese eras (和暦): the years users read and type on every form and KPI sheet.

Only the eras a cooperation-zone record can meet are known: 昭和 (old census baselines),
平成 and 令和. The day an era begins is exact, because a date in the last days of 平成
(2019-04-30) must still print as 平成31年, never as 令和.

Fiscal years (stored as the Gregorian start year, FY2021 = 令和3年度) are read here in every
form the seed and real plans use ("H27", "平成27年度", "R元", "2015年度", "FY2015", full-width
digits, 昭和) and written back in 和暦; models.fiscal re-exports these names.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Literal

from pydantic import BeforeValidator

# Japan keeps one offset all year (no daylight saving), so a fixed UTC+9 is exact and avoids
# tz-database file reads inside the workflow sandbox. models.fiscal re-exports it.
JST = timezone(timedelta(hours=9), "JST")


class EraError(ValueError):
    """A date or year that no supported era (昭和・平成・令和) can name."""


class FiscalYearError(ValueError):
    """Text that cannot be a fiscal year; the message says why, in Japanese then English."""


@dataclass(frozen=True)
class Era:
    name: str  # 令和
    letter: str  # R, the one-letter form clerks type (R3, H27)
    romaji: str  # Reiwa, for the English half of messages
    start: date  # first day of the era
    offset: int  # Gregorian year = offset + era year

    def year_of(self, gregorian_year: int) -> int:
        return gregorian_year - self.offset

    def gregorian(self, era_year: int) -> int:
        return self.offset + era_year


SHOWA = Era("昭和", "S", "Showa", date(1926, 12, 25), 1925)
HEISEI = Era("平成", "H", "Heisei", date(1989, 1, 8), 1988)
REIWA = Era("令和", "R", "Reiwa", date(2019, 5, 1), 2018)

# Newest first, so the first era whose start is on or before a date is the one in force.
ERAS: tuple[Era, ...] = (REIWA, HEISEI, SHOWA)
ERA_BY_LETTER: dict[str, Era] = {e.letter: e for e in ERAS}
ERA_BY_NAME: dict[str, Era] = {e.name: e for e in ERAS}


def era_of_date(d: date) -> Era:
    """The era in force on a calendar day."""
    for era in ERAS:
        if d >= era.start:
            return era
    raise EraError(
        f"{d.isoformat()} は昭和より前の日付のため和暦で表示できません "
        f"(dates before 1926-12-25 (Showa) are not supported)"
    )


def era_of_year(gregorian_year: int) -> Era:
    """The era that names a calendar year: the one in force on its 31 December.

    1989 is 平成元年 although its first week was 昭和64年, and 2019 is 令和元年; the same
    rule names fiscal years (FY1988 → 昭和63年度, FY2019 → 令和元年度).
    """
    return era_of_date(date(gregorian_year, 12, 31))


def era_year_text(n: int) -> str:
    """元 for the first year of an era, as officials write it (令和元年, not 令和1年)."""
    return "元" if n == 1 else str(n)


def format_date_ja(d: date) -> str:
    """'令和3年4月1日'. An aware datetime is first converted to the calendar day in Japan."""
    if isinstance(d, datetime):
        d = d.astimezone(JST).date() if d.tzinfo else d.date()
    era = era_of_date(d)
    return f"{era.name}{era_year_text(era.year_of(d.year))}年{d.month}月{d.day}日"


# ---------------------------------------------------------------- fiscal years in 和暦

# A KPI target further out than this is a typo (令和99年度), not a plan: visions run ~5 years.
MAX_YEARS_AHEAD = 30
# Gregorian input before this is almost surely a typo (1915 for 2015); the programmes began in
# FY2008, and a genuinely old census baseline is written in 昭和 (S63), which stays accepted.
FIRST_GREGORIAN_FY = 1989
SHOWA_LAST_YEAR = 64  # 昭和64年 = 1989; the FY1989 budget was drafted as 昭和64年度

_KANJI_DIGITS = {"〇": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_WESTERN = re.compile(r"^(?:FY)?(?P<year>\d{4})(?:年度?)?$")
_ERA_FORM = re.compile(
    r"^(?P<era>[A-Z]|[\u4e00-\u9fff]{2})\.?"
    r"(?P<year>元|\d+|[〇一二三四五六七八九十]+)(?:年度?)?"
    r"(?:\((?P<check>\d{4})(?:年度?)?\))?$"
)
_EXAMPLES = "例: R3、令和3年度、R元、H27、平成27年度、2015年度、FY2015"


def _kanji_number(text: str) -> int:
    """二十七 → 27, 三 → 3, 十 → 10: officials' formal style, years up to 99."""
    if "十" not in text:
        return int("".join(str(_KANJI_DIGITS[c]) for c in text))
    tens, _, ones = text.partition("十")
    if "十" in ones or len(tens) > 1 or len(ones) > 1:
        raise ValueError(text)
    return (_KANJI_DIGITS[tens] if tens else 1) * 10 + (_KANJI_DIGITS[ones] if ones else 0)


def _era_for(token: str, raw: object) -> Era:
    era = ERA_BY_LETTER.get(token) or ERA_BY_NAME.get(token)
    if era is not None:
        return era
    if token in ("M", "T", "明治", "大正"):
        raise FiscalYearError(
            f"年度「{raw}」: 明治・大正の年度には対応していません。昭和・平成・令和で指定してください "
            f"(Meiji and Taisho years are not supported; use Showa, Heisei or Reiwa)"
        )
    if len(token) == 1:
        raise FiscalYearError(
            f"年度「{raw}」: 元号の略号「{token}」は使えません。S(昭和)・H(平成)・R(令和)のいずれかです "
            f"(unknown era letter {token!r}; use S, H or R)"
        )
    raise FiscalYearError(
        f"年度「{raw}」: 元号「{token}」は使えません。昭和・平成・令和のいずれかです "
        f"(unknown era {token!r}; use 昭和, 平成 or 令和)"
    )


def _from_era_form(m: re.Match[str], raw: object) -> int:
    era = _era_for(m["era"], raw)
    token = m["year"]
    try:
        n = 1 if token == "元" else int(token) if token.isdigit() else _kanji_number(token)
    except (KeyError, ValueError):
        raise FiscalYearError(
            f"年度「{raw}」の年「{token}」を数として読めません (cannot read era year {token!r})"
        ) from None
    if n < 1:
        raise FiscalYearError(
            f"年度「{raw}」: {era.name}は元年(1年)から始まります。{era.letter}0 という年度はありません "
            f"({era.romaji} starts at year 1 (元年); there is no year 0)"
        )
    if era is SHOWA and n > SHOWA_LAST_YEAR:
        raise FiscalYearError(
            f"年度「{raw}」: 昭和は64年(1989年)までです。それ以降は平成で指定してください "
            f"(Showa ended in its 64th year, 1989; use Heisei after that)"
        )
    # Heisei past 31 is accepted arithmetically: plans written before May 2019 set targets
    # such as H32 (FY2020) and H33 (FY2021); the seed itself does. MAX_YEARS_AHEAD bounds it.
    fy = era.gregorian(n)
    if m["check"] is not None and int(m["check"]) != fy:
        raise FiscalYearError(
            f"年度「{raw}」: {era.name}{era_year_text(n)}年度は{fy}年度です。"
            f"括弧内の{m['check']}と一致しません "
            f"({era.romaji} {n} is FY{fy}, not {m['check']} as given in brackets)"
        )
    return fy


def _normalize(text: str) -> str:
    """Full-width digits/letters/brackets to ASCII (NFKC), no spaces, upper case (h27 → H27)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).upper()


def parse_fiscal_year(text: str | int, today: date | None = None) -> int:
    """The Gregorian start year of a fiscal year written in any common form, or FiscalYearError.

    `today` (default: today in Japan) bounds how far ahead a year may be; workflows pass their
    deterministic date. H31 and R元 are both FY2019.
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise FiscalYearError(
            f"年度は文字列または整数で指定してください (fiscal year must be text or an integer, "
            f"got {type(text).__name__})"
        )
    era_form = False
    if isinstance(text, int):
        fy = text
    else:
        s = _normalize(text)
        if not s:
            raise FiscalYearError(f"年度が空です。{_EXAMPLES} (fiscal year is empty)")
        if western := _WESTERN.match(s):
            fy = int(western["year"])
        elif era_match := _ERA_FORM.match(s):
            fy, era_form = _from_era_form(era_match, text), True
        else:
            raise FiscalYearError(
                f"年度「{text}」を読み取れません。{_EXAMPLES} "
                f"(cannot read fiscal year {text!r}; write e.g. R3, H27, 2015, FY2015)"
            )
    if not era_form and fy < FIRST_GREGORIAN_FY:
        raise FiscalYearError(
            f"年度「{text}」: 西暦{FIRST_GREGORIAN_FY}年度より前は誤入力の可能性が高いため受け付けません。"
            f"昭和の年度は S63 のように指定してください "
            f"(years before {FIRST_GREGORIAN_FY} are refused as likely typos; write Showa years as S63)"
        )
    from .fiscal import current_jst_date, fiscal_year_of  # models.fiscal imports this module

    current = fiscal_year_of(today or current_jst_date())
    if fy - current > MAX_YEARS_AHEAD:
        raise FiscalYearError(
            f"年度「{text}」は{fy}年度で、今年度({current}年度)より{MAX_YEARS_AHEAD}年を超えて先です "
            f"(FY{fy} is more than {MAX_YEARS_AHEAD} years ahead of the current fiscal year FY{current})"
        )
    return fy


FiscalYearStyle = Literal["ja", "short", "both"]


def format_fiscal_year(fy: int, style: FiscalYearStyle = "ja") -> str:
    """'令和3年度' (ja), 'R3' (short) or '令和3年度 (2021)' (both); year 1 is written 元.

    A fiscal year takes the era that names its calendar year (the era in force on 31 December),
    so FY2019 is 令和元年度, as the government writes it for that year after May 2019, although
    budgets drafted before then said 平成31年度 (which parse_fiscal_year still accepts), and
    FY1988 is 昭和63年度 while FY1989 is 平成元年度.
    """
    if isinstance(fy, bool) or not isinstance(fy, int):
        raise FiscalYearError(f"年度は整数で指定してください (fiscal year must be an int, got {fy!r})")
    try:
        era = era_of_year(fy)
    except EraError:
        raise FiscalYearError(
            f"{fy}年度は昭和より前のため和暦で表示できません (FY{fy} is before Showa)"
        ) from None
    n = era_year_text(era.year_of(fy))
    if style == "ja":
        return f"{era.name}{n}年度"
    if style == "short":
        return f"{era.letter}{n}"
    if style == "both":
        return f"{era.name}{n}年度 ({fy})"
    raise ValueError(f"unknown style {style!r}; use 'ja', 'short' or 'both'")


def _validate_fiscal_year(v: object) -> int:
    return parse_fiscal_year(v)  # type: ignore[arg-type]  # wrong types get a FiscalYearError


# An int field that also accepts every text form above ("R3", "平成27年度", "２０１５").
FiscalYear = Annotated[int, BeforeValidator(_validate_fiscal_year, json_schema_input_type=int | str)]
