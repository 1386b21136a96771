"""`kenflow kpi evaluate`: check one KPI figure by hand, as a council secretary would.

Values and fiscal years are typed the way they appear in vision documents (9,259@H27,
策定済@H29, 134@H29-H30), and the answer uses the same evaluate() as the workflow's CHECK
step, so the command is also a quick way to explain a grade. Bad input exits 2 with a
message, never a traceback.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from kenflow.cli import app
from models.era import format_fiscal_year, parse_fiscal_year
from models.kpi import (
    KIND_JA,
    STATUS_JA,
    KpiActual,
    KpiDefinition,
    KpiEvaluation,
    KpiKind,
    KpiPoint,
    KpiTarget,
    evaluate,
    format_value,
    parse_value,
)

kpi_app = typer.Typer(
    help="KPI（成果指標）の評価 (evaluate KPIs)",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(kpi_app, name="kpi")

_SPAN = re.compile(r"\s*[-–—~〜]\s*")
STATUS_EN = {"achieved": "achieved", "on_track": "on track", "behind": "behind", "no_data": "no data"}


def _fail(message: str) -> NoReturn:
    typer.echo(f"エラー (error): {message}", err=True)
    raise typer.Exit(2)


def _fy(text: str, option: str) -> int:
    try:
        return parse_fiscal_year(text)
    except ValueError as exc:
        _fail(f"{option}: {exc}")


def parse_point(text: str, option: str) -> KpiPoint:
    """'484@H26', '9,259@2015年度', '策定済@H29' or a cumulative span '134@H29-H30'."""
    value_text, at, fy_text = unicodedata.normalize("NFKC", text).rpartition("@")
    if not at or not value_text.strip() or not fy_text.strip():
        _fail(f"{option} は 値@年度 の形で指定してください。例: 484@H26 (expected VALUE@FY, got {text!r})")
    try:
        value = parse_value(value_text)
    except ValueError as exc:
        _fail(f"{option}: {exc}")
    parts = _SPAN.split(fy_text.strip())
    if len(parts) > 2:
        _fail(f"{option}: 年度の範囲「{fy_text}」が読めません (cannot read the span {fy_text!r})")
    fys = [_fy(p, option) for p in parts]
    try:
        return KpiPoint(value=value, fy=fys[-1], from_fy=fys[0] if len(fys) == 2 else None)
    except ValidationError as exc:
        _fail(f"{option}: {_reasons(exc)}")


def _reasons(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


def run_evaluation(
    baseline: str, target: str, actual: str | None, fy: str | None, kind: KpiKind, estimate: bool
) -> tuple[KpiDefinition, KpiEvaluation]:
    """Parse the options and evaluate; exits 2 with a message on any bad input."""
    b, t = parse_point(baseline, "--baseline"), parse_point(target, "--target")
    a = parse_point(actual, "--actual") if actual is not None else None
    spanned = [p for p in (b, t, a) if p is not None and p.from_fy is not None]
    if spanned and kind is not KpiKind.cumulative:
        _fail(
            "年度の範囲 (H29-H30) は --kind cumulative のときだけ使えます (FY spans are for cumulative KPIs)"
        )
    try:
        kpi = KpiDefinition(
            id="cli",
            name="cli",
            perspective="living",
            field="a",
            kind=kind,
            targets=[KpiTarget(version=1, baseline=b, target=t)],
        )
    except ValidationError as exc:
        _fail(_reasons(exc))
    start = t.from_fy or b.from_fy
    if a is not None and a.from_fy is not None and start is not None and a.from_fy != start:
        _fail(f"--actual の累計は {start} 年度からにしてください (the span must start in FY{start})")
    actuals = (
        []
        if a is None
        else [KpiActual(kpi_id="cli", value=a.value, fy=a.fy, from_fy=a.from_fy, estimate=estimate)]
    )
    if fy is not None:
        year = _fy(fy, "--fy")
    elif a is not None:
        year = a.fy
    else:
        _fail("--actual か --fy を指定してください (give --actual or --fy)")
    return kpi, evaluate(kpi, actuals, year)


def _json(kpi: KpiDefinition, ev: KpiEvaluation) -> dict[str, Any]:
    t = kpi.current
    return {
        "kind": kpi.kind.value,
        "fy": ev.fy,
        "fy_label": format_fiscal_year(ev.fy, style="ja"),
        "baseline": t.baseline.model_dump(exclude_none=True),
        "target": t.target.model_dump(exclude_none=True),
        "actual": ev.actual,
        "estimate": ev.estimate,
        "achievement_rate": ev.achievement_rate,
        "expected_value": ev.expected_value,
        "status": ev.status.value,
        "status_ja": STATUS_JA[ev.status],
        "grade": ev.grade,
        "target_version": ev.target_version,
    }


def _when(p: KpiPoint) -> str:
    end = format_fiscal_year(p.fy, style="short")
    return f"{format_fiscal_year(p.from_fy, style='short')}–{end}" if p.from_fy is not None else end


def _summary(kpi: KpiDefinition, ev: KpiEvaluation) -> None:
    con = Console(highlight=False)
    fy = format_fiscal_year(ev.fy, style="ja")
    t = kpi.current
    con.print(
        f"[bold]{fy}[/] (FY{ev.fy}) {KIND_JA[kpi.kind]} ({kpi.kind.value}): "
        f"{format_value(t.baseline.value)} ({_when(t.baseline)}) → "
        f"{format_value(t.target.value)} ({_when(t.target)})"
    )
    if ev.actual is None:
        con.print(f"実績なし — 状況 {STATUS_JA[ev.status]} (no actual — status {STATUS_EN[ev.status]})")
        return
    mark = "（見込）" if ev.estimate else ""
    con.print(
        f"実績 {format_value(ev.actual)}{mark} / 期待値 {format_value(ev.expected_value)} (actual / expected)"
    )
    rate = f"{ev.achievement_rate:.1f}%" if ev.achievement_rate is not None else "—"
    con.print(
        f"達成率 [bold]{rate}[/] 評価 [bold]{ev.grade}[/] 状況 [bold]{STATUS_JA[ev.status]}[/] "
        f"(achievement rate {rate}, grade {ev.grade}, {STATUS_EN[ev.status]})"
    )


@kpi_app.command("evaluate")
def evaluate_command(
    baseline: str = typer.Option(..., "--baseline", help="基準値@年度 (baseline), e.g. 484@H26, 134@H29-H30"),
    target: str = typer.Option(..., "--target", help="目標値@年度 (target), e.g. 600@H31"),
    actual: str | None = typer.Option(None, "--actual", help="実績値@年度 (actual), e.g. 555@H29"),
    fy: str | None = typer.Option(None, "--fy", help="評価年度 (FY to evaluate; default: the actual's)"),
    kind: KpiKind = typer.Option(KpiKind.higher, "--kind", case_sensitive=False, help="KPIの種別 (kind)"),
    estimate: bool = typer.Option(False, "--estimate", help="実績は見込 (the actual is an estimate)"),
    as_json: bool = typer.Option(False, "--json", help="JSONで出力 (print JSON)"),
) -> None:
    """達成率・期待値・状況・評価を計算する (compute rate, expected value, status and grade)."""
    kpi, ev = run_evaluation(baseline, target, actual, fy, kind, estimate)
    if as_json:
        typer.echo(json.dumps(_json(kpi, ev), ensure_ascii=False))
    else:
        _summary(kpi, ev)
