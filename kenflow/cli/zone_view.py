"""`kenflow zone show` as people read it: one zone's state in Japanese with 和暦 dates.

Kept apart from the commands because it is pure rendering: a ZoneState (from the read model or
the live workflow) and its timeline in, rich tables out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from rich.console import Console
from rich.markup import escape as esc
from rich.table import Table

from models.era import format_date_ja, format_fiscal_year
from models.fiscal import current_jst_date, fiscal_year_of
from models.kpi import KIND_JA, STATUS_JA, KpiDefinition, KpiEvaluation, KpiPoint, evaluate, format_value
from models.perspective import PERSPECTIVE_JA, field_label
from models.zone import (
    AGREEMENT_STATUS_JA,
    PHASE_JA,
    Agreement,
    FiscalYearReview,
    Vision,
    VisionStatus,
    ZoneState,
)

ACT_JA = {
    "start": "開始",
    "declare": "宣言",
    "override_eligibility": "要件の例外",
    "draft_agreement": "協定案の作成",
    "record_resolution": "議会の議決",
    "notify_abolition": "廃止の通告",
    "abolition_effective": "協定の廃止",
    "adopt_policy": "形成方針",
    "draft_vision": "ビジョン案",
    "record_council_review": "懇談会",
    "answer_consultation": "協議への回答",
    "publish_vision": "ビジョン公表",
    "review_fiscal_year": "年度振り返り",
    "record_plan": "PLAN",
    "record_projects": "DO",
    "record_kpi_actuals": "KPI実績",
    "complete_check": "CHECK",
    "complete_action": "ACTION",
    "reminder": "リマインダー",
    "import_agreement": "協定(移行)",
    "import_policy": "形成方針(移行)",
    "import_vision": "ビジョン(移行)",
}
VISION_STATUS_JA = {
    VisionStatus.drafted: "素案(懇談会の審議待ち)",
    VisionStatus.reviewed: "懇談会了承・協議中",
    VisionStatus.published: "公表済",
    VisionStatus.superseded: "旧版",
}
STEP_JA = {
    "plan": "PLAN(計画の登録)待ち",
    "check": "DO・CHECK(実施状況・KPI実績の入力と評価)待ち",
    "action": "ACTION(懇談会による検証・改善)待ち",
    "done": "完了",
}


class Event(NamedTuple):
    """A timeline line: an accepted act, or (from the audit) a refused one."""

    on: date | None
    at: datetime
    act: str
    actor: str
    summary: str
    refused: bool = False


def ja(d: date | None) -> str:
    return format_date_ja(d) if d is not None else "—"


def fy_range(start: int, end: int) -> str:
    return f"{format_fiscal_year(start)}〜{format_fiscal_year(end)}"


def _point(p: KpiPoint) -> str:
    when = format_fiscal_year(p.fy, style="short")
    if p.from_fy is not None:
        when = f"{format_fiscal_year(p.from_fy, style='short')}–{when}"
    return f"{p.label or format_value(p.value)} ({when})"


def render(state: ZoneState, events: Sequence[Event], source: str, con: Console) -> None:
    p = state.programme
    con.print(f"[bold]{esc(state.name)}[/] ({p.ja}) — {esc(state.zone_id)}  [dim]{source}[/]")
    hubs = "・".join(f"{esc(m.name)}({m.code}, {m.prefecture_name})" for m in state.central_cities)
    con.print(f"段階 (phase): [bold]{PHASE_JA[state.phase]}[/] ({state.phase.value})")
    con.print(f"{p.hub_ja} (central): {hubs}{' 複眼型' if len(state.central_cities) == 2 else ''}")
    if state.declaration:
        con.print(f"{p.declaration_ja}: {ja(state.declaration.declared_on)}")
    if state.override:
        con.print(f"要件の例外 (override): {esc(state.override.reason)}")
    if state.formed_on:
        con.print(f"圏域形成 (formed): {ja(state.formed_on)}")
    if state.ended_on:
        con.print(f"終了 (ended): {ja(state.ended_on)}")
    _agreements(state, con)
    _vision(state, con)
    _review(state, con)
    _kpis(state, con)
    _timeline(events, con)


def _agreements(state: ZoneState, con: Console) -> None:
    rows: list[Agreement] = list(state.agreements.values())
    if state.policy is not None:
        rows.insert(0, state.policy)
    if not rows:
        con.print(f"{state.programme.agreement_ja}: まだありません (no agreements yet)")
        return
    t = Table(title=f"{state.programme.agreement_ja} (agreements)", title_justify="left")
    for col in ("相手 (neighbour)", "状態 (state)", "案の作成", "議決 (resolutions)", "締結・廃止"):
        t.add_column(col, overflow="fold")
    for ag in rows:
        votes = []
        for code in dict.fromkeys(ag.parties):
            r = ag.resolutions.get(code)
            who = state.municipality(code)
            name = who.name if who else code
            votes.append(f"{esc(name)} {'✓ ' + ja(r.resolved_on) + ' ' + esc(r.number) if r else '未'}")
        end = ja(ag.concluded_on) if ag.concluded_on else ""
        if ag.abolition:
            end += f" / 廃止発効 {ja(ag.abolition.effective_on)}"
        neighbour = "形成方針" if ag is state.policy else f"{esc(ag.neighbour.name)}({ag.neighbour.code})"
        t.add_row(neighbour, AGREEMENT_STATUS_JA[ag.status], ja(ag.drafted_on), "\n".join(votes), end)
    con.print(t)


def _vision(state: ZoneState, con: Console) -> None:
    v: Vision | None = state.vision
    if v is None:
        return
    con.print(
        f"[bold]{state.programme.vision_ja}[/]: {esc(v.title)} 第{v.version}版{'(改訂)' if v.revision else ''} — "
        f"{VISION_STATUS_JA[v.status]}; 計画期間 {fy_range(v.period_start_fy, v.period_end_fy)}"
        + (f"; 公表 {ja(v.published_on)}" if v.published_on else "")
    )
    if v.status is VisionStatus.reviewed and v.consultees:
        answered = [
            f"{esc(_name(state, c))} {'✓' if c in v.consultations else '未回答'}" for c in v.consultees
        ]
        con.print("  協議 (consultation): " + "、".join(answered))
    pv = state.published_vision
    if pv is not None and pv is not v:
        con.print(
            f"  公表中の版 (in force): 第{pv.version}版 {fy_range(pv.period_start_fy, pv.period_end_fy)}"
        )


def _name(state: ZoneState, code: str) -> str:
    m = state.municipality(code)
    return m.name if m else code


def _review(state: ZoneState, con: Console) -> None:
    if state.current_fy is None or state.current_fy not in state.reviews:
        return
    r: FiscalYearReview = state.reviews[state.current_fy]
    con.print(f"年度の振り返り (PDCA): [bold]{format_fiscal_year(r.fy, 'both')}[/] — {STEP_JA[r.step]}")


def evaluations(state: ZoneState) -> tuple[str, dict[str, KpiEvaluation]]:
    """The latest CHECK's grades; without one, a provisional grade for the latest FY with figures."""
    checked = [r for r in state.reviews.values() if r.check_on is not None]
    if checked:
        r = max(checked, key=lambda x: x.fy)
        return f"{format_fiscal_year(r.fy)} CHECK", {e.kpi_id: e for e in r.evaluations}
    if not state.actuals:
        return "", {}
    fy = min(max(a.fy for a in state.actuals), fiscal_year_of(current_jst_date()))
    evs = {k.id: evaluate(k, state.actuals, fy) for k in state.kpis.values()}
    return f"{format_fiscal_year(fy)} 暫定 (provisional)", evs


def _kpis(state: ZoneState, con: Console) -> None:
    kpis: list[KpiDefinition] = list(state.kpis.values())
    if not kpis:
        v = state.vision
        kpis = v.kpis if v is not None else []
    if not kpis:
        return
    label, evs = evaluations(state)
    t = Table(title=f"KPI (成果指標){' — ' + label if label else ''}", title_justify="left")
    for col in ("ID", "指標", "分野", "種別", "基準値", "目標値", "実績", "達成率", "状況", "評価"):
        t.add_column(col, overflow="fold")
    for k in kpis:
        e = evs.get(k.id)
        actual = "—"
        if e is not None and e.actual is not None:
            actual = f"{format_value(e.actual)}{'(見込)' if e.estimate else ''} ({format_fiscal_year(e.fy, 'short')})"
        rate = f"{e.achievement_rate:.1f}%" if e and e.achievement_rate is not None else "—"
        t.add_row(
            esc(k.id),
            esc(f"{k.name}{'（' + k.unit + '）' if k.unit else ''}"),
            f"{PERSPECTIVE_JA[k.perspective]}・{field_label(k.perspective, k.field)}",
            KIND_JA[k.kind],
            _point(k.current.baseline),
            _point(k.current.target),
            actual,
            rate,
            STATUS_JA[e.status] if e else "—",
            (e.grade or "—") if e else "—",
        )
    con.print(t)


def _timeline(events: Sequence[Event], con: Console) -> None:
    t = Table(title="経過 (timeline)", title_justify="left")
    for col in ("日付", "操作", "実施者", "内容"):
        t.add_column(col, overflow="fold")
    for ev in events:
        when = ja(ev.on) if ev.on else format_date_ja(ev.at)
        act = ACT_JA.get(ev.act, ev.act)
        if ev.refused:
            t.add_row(when, f"[red]✗ {act}(却下)[/]", esc(ev.actor), f"[red]{esc(ev.summary)}[/]")
        else:
            t.add_row(when, act, esc(ev.actor), esc(ev.summary))
    con.print(t)
