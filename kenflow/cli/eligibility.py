"""`kenflow eligibility`: may this city be a 中心市 / 連携中枢都市? Figures in, verdict out.

Clerks paste figures from census tables (112,156 / １．０３ / 6.2%), so the options are read
as text and parsed here; a bad figure exits with code 2 and a bilingual message, while an
ineligible city is a normal answer (exit 0).
"""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from models.codes import CodeError, check_digit, normalize_municipality_code, normalize_prefecture
from models.eligibility import EligibilityVerdict, RuleStatus, check
from models.municipality import FormerCity, Municipality
from models.programme import Programme

from . import app

_MARKS = {
    RuleStatus.passed: "○ 適合 (passed)",
    RuleStatus.caveat: "△ 要確認 (passed, check)",
    RuleStatus.failed: "× 不適合 (failed)",
    RuleStatus.unknown: "? 不明 (unknown)",
}
_OUTCOMES = {
    "eligible": "要件を満たします (eligible)",
    "eligible_with_caveats": "要件を満たします。ただし要確認の項目があります (eligible, with caveats)",
    "undetermined": "不明な数値があるため判定できません (undetermined: figures missing)",
    "not_eligible": "要件を満たしません (not eligible)",
}
_PROGRAMMES = {
    "settlement": "settlement",
    "定住自立圏": "settlement",
    "metropolitan": "metropolitan",
    "連携中枢都市圏": "metropolitan",
}


class InputError(ValueError):
    """A figure on the command line that cannot be used; exits with code 2."""


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().replace(",", "")


def _number(text: str, what_ja: str, what_en: str, low: float, high: float, suffix: str = "") -> float:
    cleaned = _clean(text).removesuffix(suffix)
    try:
        value = float(cleaned)
    except ValueError:
        raise InputError(
            f"{what_ja}「{text}」は数値ではありません ({what_en} is not a number: {text!r})"
        ) from None
    if math.isnan(value) or not low <= value <= high:
        raise InputError(
            f"{what_ja}「{text}」は{low:g}〜{high:g}の範囲で指定してください "
            f"({what_en} must be between {low:g} and {high:g}, got {text!r})"
        )
    return value


def _population(text: str) -> int:
    cleaned = _clean(text).removesuffix("人")
    if not cleaned.lstrip("-").isdigit():
        raise InputError(
            f"人口「{text}」は整数ではありません (population must be a whole number, got {text!r})"
        )
    if int(cleaned) < 0:
        raise InputError(f"人口「{text}」が負の値です (population cannot be negative, got {text!r})")
    return int(cleaned)


def _ratio(text: str, what_ja: str, what_en: str) -> float:
    """A ratio such as 1.03; census tables print an index (103.2), which is refused with a hint."""
    value = _number(text, what_ja, what_en, 0, math.inf)
    if value > 10:
        raise InputError(
            f"{what_ja}「{text}」は比率(例 1.032)で指定してください。指数表記(103.2)なら100で割ってください "
            f"({what_en} must be a ratio such as 1.032, not an index such as 103.2)"
        )
    return value


def _code_for(prefecture: str) -> str:
    """A municipality code if one was given, else a stand-in city code in the prefecture."""
    text = _clean(prefecture)
    try:
        if text.isdigit() and len(text) in (5, 6):
            return normalize_municipality_code(text)
        pref = normalize_prefecture(text)
    except CodeError as e:
        raise InputError(str(e)) from None
    return f"{pref}201{check_digit(pref + '201')}"


def _programme(text: str) -> Programme:
    key = _PROGRAMMES.get(_clean(text).lower())
    if key is None:
        raise InputError(
            f"制度「{text}」は settlement(定住自立圏) または metropolitan(連携中枢都市圏) で指定してください "
            f"(programme must be settlement or metropolitan, got {text!r})"
        )
    return Programme(key)


def _print_table(verdict: EligibilityVerdict) -> None:
    console = Console()
    p = verdict.programme
    table = Table(title=f"{p.ja} {p.hub_ja}の要件 ({p.value} hub eligibility)")
    table.add_column("要件 (rule)", overflow="fold")
    table.add_column("判定 (result)", no_wrap=True)
    table.add_column("詳細 (detail)", overflow="fold")
    for r in verdict.reasons:
        label = r.label + (f"（{r.city}）" if r.city else "")
        table.add_row(label, _MARKS[r.status or RuleStatus.failed], r.detail)
    console.print(table)
    console.print(f"判定結果: {_OUTCOMES[verdict.outcome]}")
    for note in verdict.notes:
        console.print(f"注: {note}")


@app.command("eligibility")
def eligibility(
    population: Annotated[str, typer.Option("--population", help="人口 (population), 例 112156")],
    day_night_ratio: Annotated[str, typer.Option("--day-night-ratio", help="昼夜間人口比率, 例 1.03")],
    prefecture: Annotated[
        str, typer.Option("--prefecture", help="都道府県名・コード、または団体コード (滋賀県 / 25 / 252026)")
    ],
    commute_share_to_metro: Annotated[
        str | None,
        typer.Option(
            "--commute-share-to-metro", help="特別区・指定都市への通勤通学者の割合(%) (commute share)"
        ),
    ] = None,
    largest_former_city_ratio: Annotated[
        str | None,
        typer.Option("--largest-former-city-ratio", help="合併市: 人口最大の旧市の昼夜間人口比率"),
    ] = None,
    programme: Annotated[
        str, typer.Option("--programme", help="settlement(定住自立圏) | metropolitan(連携中枢都市圏)")
    ] = "settlement",
    designated: Annotated[bool, typer.Option("--designated", help="指定都市 (designated city)")] = False,
    core: Annotated[bool, typer.Option("--core", help="中核市 (core city)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力 (print JSON)")] = False,
) -> None:
    """中心市・連携中枢都市の要件を判定します (check hub eligibility). Exit 0 eligible or not."""
    try:
        if designated and core:
            raise InputError(
                "--designated と --core は同時に指定できません "
                "(a city is either designated or core, not both)"
            )
        former = []
        if largest_former_city_ratio is not None:
            ratio = _ratio(
                largest_former_city_ratio, "人口最大の旧市の昼夜間人口比率", "largest former city ratio"
            )
            former = [FormerCity(name="入力値", day_night_ratio=ratio)]
        share = None
        if commute_share_to_metro is not None:
            share = _number(commute_share_to_metro, "通勤通学者の割合", "commute share", 0, 100, "%")
        city = Municipality(
            code=_code_for(prefecture),
            name="対象市",
            designated_city=designated,
            core_city=core,
            population=_population(population),
            day_night_ratio=_ratio(day_night_ratio, "昼夜間人口比率", "day/night ratio"),
            commute_share_to_metro=share,
            former_cities=former,
        )
        verdict = check(_programme(programme), [city])
    except (InputError, ValidationError) as e:
        typer.echo(f"エラー: {e}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(verdict.model_dump_json(indent=2))
    else:
        _print_table(verdict)
