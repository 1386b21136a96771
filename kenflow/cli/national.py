"""`kenflow overdue` and `kenflow stats`: the ministry's view across every zone.

Both read the read model only, so a coordinator can run them while no worker is up.

`overdue` asks models.deadlines.reminders what each zone still waits for, on a copy of the
state with the sent reminders forgotten: reminders() lists only reminders not yet sent, but a
coordinator wants everything still waiting, however many reminders already went out, and the
date it first fell due.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from kenflow.cli import app
from models.codes import CodeError
from models.deadlines import Due, reminders
from models.era import format_date_ja, format_fiscal_year
from models.fiscal import current_jst_date
from models.notice import recipient_label
from models.programme import Programme
from models.zone import ZoneState

from . import _common as c

KIND_JA = {
    "resolution-missing": "議決未登録 (resolution missing)",
    "consultation-missing": "協議への回答待ち (consultation missing)",
    "vision-expiring": "ビジョン期間満了間近 (vision expiring)",
    "vision-expired": "ビジョン期間満了 (vision expired)",
    "kpi-actuals-due": "KPI実績未入力 (KPI actuals due)",
}


def waiting(state: ZoneState, today: date, within: int = 0) -> list[dict[str, Any]]:
    """What the zone waits for, due on or before today + `within` days, oldest first."""
    fresh = state.model_copy(update={"reminders_fired": []})
    dues: list[Due] = reminders(fresh)
    expired = any(d.key.startswith("vision-expired") and d.on <= today for d in dues)
    out = []
    for d in dues:
        base = d.key.split("#", 1)[0]
        kind = base.split(":", 1)[0]
        if kind == "vision-expiring" and expired:
            continue  # the vision in force has expired, which is listed instead
        days = (today - d.on).days
        if days < -within:
            continue
        sent = sum(1 for k in state.reminders_fired if k.split("#", 1)[0] == base)
        who = [_recipient(state, r) for r in d.recipients]
        out.append({
            "zone_id": state.zone_id, "zone": state.name, "kind": kind, "kind_ja": KIND_JA.get(kind, kind),
            "subject": d.subject, "detail": _detail(state, base), "due_on": d.on.isoformat(),
            "due_ja": format_date_ja(d.on), "days_overdue": days, "waiting_on": who, "reminders_sent": sent,
        })  # fmt: skip
    return out


def _recipient(state: ZoneState, r: str) -> str:
    if r.startswith("muni:"):
        m = state.municipality(r[5:])
        return m.name if m else r[5:]
    return recipient_label(r)


def _detail(state: ZoneState, base: str) -> str:
    kind, _, rest = base.partition(":")
    if kind == "resolution-missing":
        ag = state.agreements.get(rest.split(":")[0])
        return f"{ag.neighbour.name}との協定" if ag else rest
    if kind.startswith("vision"):
        v = state.published_vision or state.vision
        return f"{v.title} (〜{format_fiscal_year(v.period_end_fy)})" if v else ""
    if kind == "kpi-actuals-due":
        return format_fiscal_year(int(rest))
    return state.vision.title if state.vision else ""


@app.command("overdue")
def overdue(
    as_of: Annotated[str | None, typer.Option("--as-of", help="基準日 (default today)")] = None,
    within: Annotated[int, typer.Option("--within", min=0, help="あとN日以内に期限を迎えるものも表示")] = 0,
    programme: Annotated[str | None, typer.Option("--programme", help="settlement | metropolitan")] = None,
    prefecture: Annotated[str | None, typer.Option("--prefecture", "-p", help="25, 滋賀県 …")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
) -> None:
    """期限を過ぎて待っているもの: 議決・協議回答・ビジョン期間・KPI実績 (what waits too long)."""
    from kenflow.db.queries import get_zone, list_zones

    today = c.date_or_today(as_of, "--as-of")
    engine = c.read_engine()
    if programme is not None and programme not in {p.value for p in Programme}:
        c.fail(f"--programme は settlement か metropolitan です (got {programme!r})")
    try:
        rows = list_zones(engine, programme=programme, prefecture=prefecture)
    except CodeError as err:
        c.fail(f"--prefecture: {err}")
    items: list[dict[str, Any]] = []
    for row in rows:
        if row.ended_on is not None:
            continue
        detail = get_zone(engine, row.id, limit=None)
        if detail is not None:
            items += waiting(detail.state, today, within)
    items.sort(key=lambda i: (-i["days_overdue"], i["zone_id"]))
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    t = Table(title=f"期限超過 (overdue) — {format_date_ja(today)}時点 {len(items)}件")
    for col in ("圏域", "種別", "対象", "期限", "超過", "回答・対応待ち", "督促"):
        t.add_column(col, overflow="fold")
    for i in items:
        d = i["days_overdue"]
        late = f"[red]{d}日超過[/]" if d > 0 else ("本日" if d == 0 else f"あと{-d}日")
        t.add_row(f"{escape(i['zone'])}\n{i['zone_id']}", i["kind_ja"], escape(i["detail"]), i["due_ja"], late,
                  escape("・".join(i["waiting_on"])), f"{i['reminders_sent']}回")  # fmt: skip
    if not items:
        typer.echo(f"{format_date_ja(today)}時点で期限を過ぎているものはありません (nothing is overdue)")
        return
    c.console.print(t)


# --------------------------------------------------------------------------- stats


def comparison(as_of: date | None) -> list[dict[str, Any]]:
    """kenflow's figures next to the MIC briefing's (seed, 2019-11-01), per programme."""
    from kenflow.db.queries import national_stats
    from models.register import load_register

    st = national_stats(c.read_engine(), as_of)
    n = load_register().national
    s, m = st[Programme.settlement], st[Programme.metropolitan]
    rows: list[tuple[Programme, str, int, int | None, date]] = [
        (Programme.settlement, "宣言中心市 (declared central cities)", s.declared_central_cities,
         n.settlement_declared, n.as_of),
        (Programme.settlement, "形成圏域 (zones formed)", s.zones_formed, n.settlement_zones_formed, n.as_of),
        (Programme.settlement, "構成市町村 (municipalities)", s.municipalities, n.settlement_municipalities,
         n.as_of),
        (Programme.settlement, "ビジョン策定圏域 (with a vision)", s.zones_with_vision, n.settlement_vision_zones,
         n.as_of),
        (Programme.settlement, "KPI設定圏域 (with KPIs)", s.zones_with_kpis, n.kpi_survey_zones_with_kpis,
         n.kpi_survey_date),
        (Programme.settlement, "県境型 (cross-prefecture)", s.cross_prefecture, n.cross_prefecture_zones, n.as_of),
        (Programme.settlement, "複眼型 (dual-centre)", s.dual_centre, n.dual_centre_zones, n.as_of),
        (Programme.settlement, "合併1市圏域 (single merged city)", s.single_city, n.merged_single_city_zones,
         n.as_of),
        (Programme.metropolitan, "宣言連携中枢都市 (declared cities)", m.declared_central_cities,
         n.metropolitan_declared, n.as_of),
        (Programme.metropolitan, "形成連携中枢都市 (cities of formed areas)", m.zones_formed + m.dual_centre,
         n.metropolitan_formed_cities, n.metropolitan_formed_as_of),
        (Programme.metropolitan, "形成圏域 (areas formed)", m.zones_formed, n.metropolitan_formed_areas,
         n.metropolitan_formed_as_of),
        (Programme.metropolitan, "構成市町村 (municipalities)", m.municipalities, n.metropolitan_municipalities,
         n.metropolitan_formed_as_of),
        (Programme.metropolitan, "ビジョン策定圏域 (with a vision)", m.zones_with_vision, None, n.as_of),
        (Programme.metropolitan, "KPI設定圏域 (with KPIs)", m.zones_with_kpis, None, n.as_of),
    ]  # fmt: skip
    return [
        {"programme": p.value, "programme_ja": p.ja, "figure": label, "kenflow": ours, "seed": seed,
         "seed_as_of": when.isoformat(), "difference": None if seed is None else ours - seed}
        for p, label, ours, seed, when in rows
    ]  # fmt: skip


@app.command("stats")
def stats(
    as_of: Annotated[str | None, typer.Option("--as-of", help="この日までの宣言・形成を数える")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
) -> None:
    """全国の状況を制度別に、総務省資料(令和元年11月1日時点)の数値と比較 (national figures vs the seed)."""
    from models.register import load_register

    day = c.parse_date(as_of, "--as-of") if as_of else None
    rows = comparison(day)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    n = load_register().national
    when = f"{format_date_ja(day)}まで" if day else f"{format_date_ja(current_jst_date())}現在"
    for p in Programme:
        t = Table(title=f"{p.ja} ({p.value}) — kenflow {when}", title_justify="left")
        for col in ("指標", "kenflow", "総務省資料 (seed)", "資料の時点", "差"):
            t.add_column(col, overflow="fold")
        for r in rows:
            if r["programme"] != p.value:
                continue
            seed = "—" if r["seed"] is None else f"{r['seed']:,}"
            diff = "—" if r["difference"] is None else f"{r['difference']:+,}"
            t.add_row(r["figure"], f"{r['kenflow']:,}", seed, format_date_ja(date.fromisoformat(r["seed_as_of"])),
                      diff)  # fmt: skip
        c.console.print(t)
    formed = next(
        r["kenflow"] for r in rows if r["figure"].startswith("形成圏域") and r["programme"] == "settlement"
    )
    c.console.print(
        f"目標 (target): {n.target_year}年に定住自立圏 {n.target_zones} 圏域 — 現在 {formed} 圏域 "
        f"({formed / n.target_zones:.0%})"
    )
