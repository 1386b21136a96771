"""`kenflow zone …`: start a zone's workflow from a file, and look at zones.

Coordinators keep a zone's founding data (central cities, declaration) in a YAML file they can
review and version, so `start` takes a file rather than twenty options. `show` and `list` read
the read model (fast, works while the worker is down); `show --live` asks the workflow itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kenflow.cli import app
from models import acts as A
from models.actor import Actor, Role
from models.codes import CodeError
from models.era import format_fiscal_year
from models.lifecycle import ActRefused, validate_start
from models.programme import Programme
from models.zone import PHASE_JA, Declaration, Phase, ZoneState

from . import _common as c
from .zone_view import VISION_STATUS_JA, Event, ja, render

zone_app = typer.Typer(
    help="圏域の開始・照会 (start and inspect zones)", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(zone_app, name="zone")

_PHASE_BY_JA = {ja_: p.value for p, ja_ in PHASE_JA.items()}
_PROGRAMME_BY_JA = {p.ja: p.value for p in Programme}


@zone_app.command("start")
def start(
    file: Annotated[
        Path, typer.Argument(help="StartZone を記した YAML/JSON (e.g. examples/kotou-zone.yaml)")
    ],
) -> None:
    """圏域のワークフローを開始し、圏域IDを表示 (start a zone; prints its id).

    The file's `started_by` is the actor; without it the ministry (総務省) starts the zone.
    """
    data = c.load_file(file)
    if not isinstance(data, dict):
        c.fail(f"{file} には StartZone のマッピングを書いてください (expected a mapping)")
    by = data.get("started_by")
    if by is None:
        data["started_by"] = Actor(role=Role.ministry, name=c.MINISTRY_NAME)
    elif isinstance(by, str | int):  # `started_by: ministry` or `started_by: 252026`
        data["started_by"] = c.parse_actor(str(by))
    start_zone = c.build(A.StartZone, data, str(file))
    try:  # the same check the service makes, before connecting: bad input exits 2 even offline
        validate_start(start_zone)
    except ActRefused as err:
        c.fail(f"受け付けられませんでした (refused): {err}")

    async def go(service: Any) -> str:
        return await service.start_zone(start_zone)  # type: ignore[no-any-return]

    zone_id = c.run_service(go)
    c.wait_for_projection(zone_id, 0)
    c.console.print(
        f"[green]✓[/] {escape(start_zone.name)} を開始しました (zone started): {zone_id}", soft_wrap=True
    )
    typer.echo(zone_id)


@zone_app.command("declare")
def declare(
    zone: Annotated[str, typer.Argument(help="圏域ID")],
    file: Annotated[Path, typer.Argument(help="宣言 (will, urban_functions, cooperation, declared_on)")],
    as_: Annotated[str | None, c.as_option()] = None,
) -> None:
    """中心市宣言・連携中枢都市宣言を公表 (publish the declaration)."""
    data = c.load_file(file)
    if isinstance(data, dict) and "declaration" in data:
        data = data["declaration"]
    act = A.Declare(actor=c.parse_actor(as_, zone), declaration=c.build(Declaration, data, str(file)))
    c.perform(zone, act)


@zone_app.command("override")
def override(
    zone: Annotated[str, typer.Argument(help="圏域ID")],
    reason: Annotated[str, typer.Option("--reason", help="例外を認める理由 (10文字以上)")],
    as_: Annotated[str | None, c.as_option()] = None,
) -> None:
    """要件を満たさない中心市の例外を認める(総務省のみ) (override eligibility; ministry only)."""
    actor = c.parse_actor(as_, zone)
    c.perform(zone, c.build(A.OverrideEligibility, {"actor": actor, "reason": reason}, "--reason"))


# --------------------------------------------------------------------------- show


@zone_app.command("show")
def show(
    zone: Annotated[str, typer.Argument(help="圏域ID (e.g. settlement-252026)")],
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力 (print the state as JSON)")] = False,
    live: Annotated[bool, typer.Option("--live", help="ワークフローに直接照会 (query the workflow)")] = False,
) -> None:
    """圏域の状態: 段階・協定・ビジョン・年度・KPI・経過 (one zone in full)."""
    if live:

        async def go(service: Any) -> ZoneState:
            return await service.state(zone)  # type: ignore[no-any-return]

        state = c.run_service(go)
        state.timeline = state.whole_timeline()  # past runs' entries are kept packed
        state.timeline_archive = []
        events = [Event(e.on, e.at, e.act, e.actor.label(), e.summary) for e in state.timeline]
        source = "ワークフローから (live)"
    else:
        from kenflow.db.queries import get_zone

        detail = get_zone(c.read_engine(), zone, limit=None)
        if detail is None:
            c.fail(
                f"圏域 {zone} が見つかりません。`kenflow zone list` で確認してください "
                f"(zone {zone} not found in the read model; try `kenflow zone list` or --live)"
            )
        state = detail.state
        events = [
            Event(
                a.on,
                a.at,
                a.act,
                _actor_label(a.actor_role, a.actor_code, a.actor_name),
                a.summary,
                a.result == "refused",
            )
            for a in detail.timeline
            if a.result in ("accepted", "refused")
        ]
        source = f"一覧から (read model, v{detail.row.version})"
    if as_json:
        typer.echo(state.model_dump_json(indent=2))
        return
    render(state, events, source, c.console)


def _actor_label(role: str, code: str | None, name: str | None) -> str:
    return Actor(role=Role(role), code=code, name=name).label()


# --------------------------------------------------------------------------- list


def _choice(text: str | None, by_ja: dict[str, str], values: list[str], what: str) -> str | None:
    if text is None:
        return None
    t = text.strip()
    if t in values:
        return t
    if t in by_ja:
        return by_ja[t]
    c.fail(f"{what}「{text}」は {' / '.join(values)} のいずれかです (unknown {what}: {text!r})")


@zone_app.command("list")
def list_zones(
    phase: Annotated[
        str | None, typer.Option("--phase", help="declaration|agreements|vision|pdca|ended or 協定締結 …")
    ] = None,
    prefecture: Annotated[str | None, typer.Option("--prefecture", "-p", help="25, 滋賀県 or 滋賀")] = None,
    programme: Annotated[
        str | None, typer.Option("--programme", help="settlement|metropolitan or 定住自立圏 …")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSONで出力")] = False,
) -> None:
    """圏域の一覧 (list zones from the read model)."""
    from rich.table import Table

    from kenflow.db import queries

    ph = _choice(phase, _PHASE_BY_JA, [p.value for p in Phase], "段階 (phase)")
    pr = _choice(programme, _PROGRAMME_BY_JA, [p.value for p in Programme], "制度 (programme)")
    try:
        rows = queries.list_zones(c.read_engine(), phase=ph, prefecture=prefecture, programme=pr)
    except CodeError as err:
        c.fail(f"--prefecture: {err}")
    if as_json:
        typer.echo(json.dumps([_row_json(r) for r in rows], ensure_ascii=False, indent=2))
        return
    t = Table(title=f"圏域一覧 (zones) — {len(rows)}件")
    for col in ("圏域ID", "名称", "制度", "段階", "中心市", "宣言", "形成", "ビジョン", "年度", "KPI遅れ"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(
            r.id, escape(r.name), Programme(r.programme).ja, PHASE_JA[Phase(r.phase)], r.central_codes.replace(",", "・"),
            ja(r.declared_on), ja(r.formed_on), VISION_STATUS_JA.get(r.vision_status, "—"),
            format_fiscal_year(r.current_fy, "short") if r.current_fy else "—", str(r.kpi_behind or ""),
        )  # fmt: skip
    if not rows:
        typer.echo("該当する圏域はありません (no zones match)")
        return
    c.console.print(t)


def _row_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "programme": r.programme,
        "phase": r.phase,
        "phase_ja": PHASE_JA[Phase(r.phase)],
        "central_codes": r.central_codes.split(","),
        "prefecture_codes": [p for p in r.prefecture_codes.split(",") if p],
        "declared_on": r.declared_on.isoformat() if r.declared_on else None,
        "formed_on": r.formed_on.isoformat() if r.formed_on else None,
        "vision_status": r.vision_status,
        "vision_period_end_fy": r.vision_period_end_fy,
        "current_fy": r.current_fy,
        "kpi_behind": r.kpi_behind,
        "version": r.version,
    }
