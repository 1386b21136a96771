"""One command per human act: `kenflow agreement|policy|vision|fy …`.

Each command builds one act from its options (long documents come from YAML files), sends it
as one Update and prints the clerk-facing summary. The rules live in the workflow, so a refused
act exits 2 with the workflow's own message; dates may be written 2026-06-20 or 令和8年6月20日.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kenflow.cli import app
from models import acts as A
from models.municipality import Municipality, MunicipalityKind
from models.zone import ConsultationAnswer, CouncilReview, Initiative, ProjectStatus, Resolution

from . import _common as c

agreement_app = typer.Typer(
    help="協定・連携協約 (agreements)", no_args_is_help=True, pretty_exceptions_enable=False
)
policy_app = typer.Typer(
    help="形成方針 (a merged city's policy)", no_args_is_help=True, pretty_exceptions_enable=False
)
vision_app = typer.Typer(
    help="ビジョン (the zone's vision)", no_args_is_help=True, pretty_exceptions_enable=False
)
fy_app = typer.Typer(
    help="年度のPDCA (the yearly cycle)", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(agreement_app, name="agreement")
app.add_typer(policy_app, name="policy")
app.add_typer(vision_app, name="vision")
app.add_typer(fy_app, name="fy")

Zone = Annotated[str, typer.Argument(help="圏域ID (e.g. settlement-252026)")]
As = Annotated[str | None, c.as_option()]
DateOpt = Annotated[
    str | None, typer.Option("--date", help="日付 (2026-06-20 / 令和8年6月20日); default today")
]


# --------------------------------------------------------------------------- input helpers


def _kind_of(name: str) -> MunicipalityKind:
    """The kind a name says (…町, …村); codes alone cannot tell a town from a village."""
    for suffix, kind in (
        ("町", MunicipalityKind.town),
        ("村", MunicipalityKind.village),
        ("区", MunicipalityKind.special_ward),
    ):
        if name.endswith(suffix):
            return kind
    return MunicipalityKind.city


def neighbours(values: list[str], zone: str) -> list[Municipality]:
    """Each --neighbour is a YAML/JSON file (one municipality, a list, or {neighbours: […]}),
    a code known to the read model, or CODE:名称."""
    out: list[Municipality] = []
    for v in values:
        path = Path(v)
        if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
            data = c.load_file(path)
            if isinstance(data, dict) and "neighbours" in data:
                data = data["neighbours"]
            for item in data if isinstance(data, list) else [data]:
                out.append(c.build(Municipality, item, str(path)))
            continue
        code_text, _, name = v.replace("：", ":").partition(":")
        code = c.parse_code(code_text, "--neighbour")
        name = name.strip() or c.municipality_name(code, zone) or ""
        if not name:
            c.fail(
                f"団体コード {code} の名称が分かりません。--neighbour {code}:愛荘町 のように名称を付けるか、"
                f"YAMLファイルを指定してください (name unknown for {code}; write CODE:NAME or give a file)"
            )
        out.append(Municipality(code=code, name=name, kind=_kind_of(name)))
    return out


def initiatives(file: Path) -> tuple[str | None, list[Initiative]]:
    """A list of initiatives, or a mapping with `initiatives` (and optionally `title`)."""
    data = c.load_file(file)
    title = None
    if isinstance(data, dict):
        title = data.get("title")
        data = data.get("initiatives")
    if not isinstance(data, list) or not data:
        c.fail(f"{file} に具体的取組 (initiatives) のリストがありません (no list of initiatives)")
    return title, [c.build(Initiative, item, f"{file} [{n}]") for n, item in enumerate(data, start=1)]


def _resolution(code: str, on: str, number: str, option: str = "--date") -> Resolution:
    return c.build(
        Resolution,
        {"municipality_code": code, "resolved_on": c.parse_date(on, option), "number": number},
        "議決",
    )


# --------------------------------------------------------------------------- agreements


@agreement_app.command("draft")
def agreement_draft(
    zone: Zone,
    neighbour: Annotated[
        list[str], typer.Option("--neighbour", "-n", help="FILE, CODE or CODE:名称 (repeatable)")
    ],
    initiatives_file: Annotated[Path, typer.Option("--initiatives", help="具体的取組のYAML")],
    as_: As = None,
    hub: Annotated[str | None, typer.Option("--hub", help="複眼型で協定を結ぶ中心市のコード")] = None,
    title: Annotated[str | None, typer.Option("--title", help="協定の名称")] = None,
    notice_months: Annotated[int, typer.Option("--notice-months", help="廃止の予告期間(月)")] = 24,
    on: DateOpt = None,
) -> None:
    """協定案を作成(相手ごとに1つ) (draft one agreement per neighbour)."""
    actor = c.parse_actor(as_, zone)
    file_title, items = initiatives(initiatives_file)
    hub_code = c.parse_code(hub, "--hub") if hub else None
    drafted_on = c.date_or_today(on)
    for m in neighbours(neighbour, zone):
        act = c.build(A.DraftAgreement, {
            "actor": actor, "neighbour": m, "hub_code": hub_code, "title": title or file_title or "",
            "initiatives": items, "notice_period_months": notice_months, "drafted_on": drafted_on,
        }, "--initiatives")  # fmt: skip
        c.perform(zone, act)


@agreement_app.command("resolve")
def agreement_resolve(
    zone: Zone,
    neighbour: Annotated[str, typer.Argument(help="協定の相手の団体コード")],
    council: Annotated[str, typer.Option("--council", help="議決した議会の団体コード")],
    on: Annotated[str, typer.Option("--date", help="議決日 (2026-06-20 / 令和8年6月20日)")],
    number: Annotated[str, typer.Option("--number", help="議案番号 (議案第12号)")],
    as_: As = None,
) -> None:
    """議会の議決を登録。両議会の議決で協定締結 (record a council resolution)."""
    act = A.RecordResolution(
        actor=c.parse_actor(as_, zone),
        neighbour_code=c.parse_code(neighbour, "NEIGHBOUR"),
        resolution=_resolution(c.parse_code(council, "--council"), on, number),
    )
    c.perform(zone, act)


@agreement_app.command("abolish")
def agreement_abolish(
    zone: Zone,
    neighbour: Annotated[str, typer.Argument(help="協定の相手の団体コード")],
    resolved: Annotated[str, typer.Option("--resolution-date", help="廃止の議決日")],
    number: Annotated[str, typer.Option("--number", help="議案番号")],
    as_: As = None,
    by: Annotated[str | None, typer.Option("--by", help="廃止を通告する団体 (default: --as)")] = None,
    on: Annotated[str | None, typer.Option("--date", help="通告日 (default today)")] = None,
) -> None:
    """協定の廃止を通告(自らの議会の議決が必要) (notify abolition)."""
    actor = c.parse_actor(as_, zone)
    party = c.parse_code(by, "--by") if by else actor.code
    if party is None:
        c.fail("総務省として通告する場合は --by で通告する団体を指定してください (give --by CODE)")
    act = A.NotifyAbolition(
        actor=actor,
        neighbour_code=c.parse_code(neighbour, "NEIGHBOUR"),
        by=party,
        resolution=_resolution(party, resolved, number, "--resolution-date"),
        notified_on=c.date_or_today(on),
    )
    c.perform(zone, act)


@policy_app.command("adopt")
def policy_adopt(
    zone: Zone,
    initiatives_file: Annotated[Path, typer.Option("--initiatives", help="具体的取組のYAML")],
    on: Annotated[str, typer.Option("--date", help="議決日")],
    number: Annotated[str, typer.Option("--number", help="議案番号")],
    as_: As = None,
    title: Annotated[str | None, typer.Option("--title")] = None,
) -> None:
    """単独の合併市が形成方針を策定 (a merged city adopts its policy)."""
    actor = c.parse_actor(as_, zone)
    file_title, items = initiatives(initiatives_file)
    if actor.code is None:
        c.fail("形成方針は中心市が --as 団体コード で登録します (the city itself records it: --as CODE)")
    act = c.build(
        A.AdoptPolicy,
        {
            "actor": actor,
            "title": title or file_title or "",
            "initiatives": items,
            "resolution": _resolution(actor.code, on, number),
        },
        "--initiatives",
    )
    c.perform(zone, act)


# --------------------------------------------------------------------------- vision


def _kpi(item: Any, where: str) -> Any:
    """KPIs may be written as `baseline: 484@H26, target: 600@H31`, as the vision documents do."""
    from .kpi import parse_point

    if not isinstance(item, dict) or "targets" in item:
        return item
    kid = item.get("id", "?")
    points = {}
    for key in ("baseline", "target"):
        value = item.pop(key, None)
        if value is None:
            c.fail(f"{where}: KPI「{kid}」に {key} がありません (KPI {kid} needs a {key})")
        points[key] = (
            parse_point(str(value), f"{where}: KPI「{kid}」の{key}") if not isinstance(value, dict) else value
        )
    return {**item, "targets": [{"version": 1, **points}]}


@vision_app.command("draft")
def vision_draft(
    zone: Zone,
    file: Annotated[Path, typer.Argument(help="title, future_image, initiatives, kpis, period_start_fy …")],
    as_: As = None,
    on: DateOpt = None,
    revision: Annotated[bool, typer.Option("--revision", help="公表済みビジョンの改訂")] = False,
) -> None:
    """ビジョン案を作成 (draft the vision; --revision to revise the published one)."""
    data = c.load_file(file)
    if not isinstance(data, dict):
        c.fail(f"{file} にはビジョンのマッピングを書いてください (expected a mapping)")
    data["kpis"] = [_kpi(k, str(file)) for k in data.get("kpis") or []]
    data["actor"] = c.parse_actor(as_, zone)
    data["drafted_on"] = c.date_or_today(on) if on or "drafted_on" not in data else data["drafted_on"]
    data["revision"] = revision or bool(data.get("revision"))
    c.perform(zone, c.build(A.DraftVision, data, str(file)))


_OUTCOMES = {"approved": "approved", "了承": "approved", "revise": "revise", "修正": "revise"}


@vision_app.command("review")
def vision_review(
    zone: Zone,
    file: Annotated[Path, typer.Argument(help="懇談会: met_on, members[sector,name], outcome 了承|修正")],
    as_: As = None,
) -> None:
    """圏域共生ビジョン懇談会の審議結果を登録 (record the vision council's review)."""
    data = c.load_file(file)
    if isinstance(data, dict) and isinstance(data.get("outcome"), str):
        data["outcome"] = _OUTCOMES.get(data["outcome"], data["outcome"])
    review = c.build(CouncilReview, data, str(file))
    c.perform(zone, A.RecordCouncilReview(actor=c.parse_actor(as_, zone), review=review))


_ANSWERS = {
    "agree": "agree",
    "異議なし": "agree",
    "同意": "agree",
    "agree_with_comments": "agree_with_comments",
    "意見を付して同意": "agree_with_comments",
}


@vision_app.command("consult")
def vision_consult(
    zone: Zone,
    code: Annotated[str, typer.Argument(help="回答する市町村の団体コード")],
    answer: Annotated[
        str, typer.Option("--answer", help="agree (異議なし) | agree_with_comments (意見を付して同意)")
    ],
    comments: Annotated[str, typer.Option("--comments", help="意見")] = "",
    as_: As = None,
    on: DateOpt = None,
) -> None:
    """ビジョン案の協議に回答 (answer the consultation on the draft)."""
    value = _ANSWERS.get(answer.strip())
    if value is None:
        c.fail(f"--answer は agree か agree_with_comments です (got {answer!r})")
    act = A.AnswerConsultation(
        actor=c.parse_actor(as_, zone), municipality_code=c.parse_code(code, "CODE"),
        answer=ConsultationAnswer(value), comments=comments, answered_on=c.date_or_today(on),
    )  # fmt: skip
    c.perform(zone, act)


@vision_app.command("publish")
def vision_publish(zone: Zone, as_: As = None, on: DateOpt = None) -> None:
    """ビジョンを公表し、写しを送付 (publish the vision; copies go out)."""
    c.perform(zone, A.PublishVision(actor=c.parse_actor(as_, zone), published_on=c.date_or_today(on)))


# --------------------------------------------------------------------------- fiscal year

Fy = Annotated[str, typer.Argument(help="年度: R3, 令和3年度, 2021 …")]


@fy_app.command("review")
def fy_review(zone: Zone, fy: Fy, as_: As = None) -> None:
    """年度の振り返り(PDCA)を開始 (open a fiscal year's review)."""
    c.perform(zone, A.ReviewFiscalYear(actor=c.parse_actor(as_, zone), fy=c.parse_fy(fy, "FY")))


@fy_app.command("plan")
def fy_plan(
    zone: Zone,
    fy: Fy,
    plan: Annotated[str | None, typer.Option("--plan", help="計画の内容")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="計画を記したテキストファイル")] = None,
    vision_revision: Annotated[bool, typer.Option("--vision-revision", help="ビジョンを改訂する")] = False,
    as_: As = None,
) -> None:
    """PLAN: その年度の計画を登録 (record the year's plan)."""
    if (plan is None) == (file is None):
        c.fail("--plan か --file のどちらか一方を指定してください (give --plan or --file)")
    text = plan if plan is not None else _read_text(file)  # type: ignore[arg-type]
    act = c.build(
        A.RecordPlan,
        {
            "actor": c.parse_actor(as_, zone),
            "fy": c.parse_fy(fy, "FY"),
            "plan": text,
            "vision_revision": vision_revision,
        },
        "--plan",
    )
    c.perform(zone, act)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        c.fail(f"ファイルを読めません: {path} (cannot read: {err})")


@fy_app.command("projects")
def fy_projects(
    zone: Zone,
    fy: Fy,
    file: Annotated[Path, typer.Argument(help="事業の実施状況: [{initiative, status, note}]")],
    as_: As = None,
) -> None:
    """DO: 事業の実施状況を登録 (record how the projects went)."""
    data = c.load_file(file)
    if isinstance(data, dict):
        data = data.get("projects")
    if not isinstance(data, list):
        c.fail(f"{file} に projects のリストがありません (no list of projects)")
    items = [c.build(ProjectStatus, p, f"{file} [{n}]") for n, p in enumerate(data, start=1)]
    act = c.build(
        A.RecordProjects,
        {"actor": c.parse_actor(as_, zone), "fy": c.parse_fy(fy, "FY"), "projects": items},
        str(file),
    )
    c.perform(zone, act)


@fy_app.command("check")
def fy_check(zone: Zone, fy: Fy, as_: As = None, on: DateOpt = None) -> None:
    """CHECK: KPIを評価して年度の評価を確定 (evaluate the KPIs; closes CHECK)."""
    act = A.CompleteCheck(
        actor=c.parse_actor(as_, zone), fy=c.parse_fy(fy, "FY"), checked_on=c.date_or_today(on)
    )
    c.perform(zone, act)


@fy_app.command("action")
def fy_action(
    zone: Zone,
    fy: Fy,
    results: Annotated[str, typer.Option("--results", help="懇談会による検証結果")],
    improvements: Annotated[str, typer.Option("--improvements", help="改善の内容")] = "",
    revise_vision: Annotated[bool, typer.Option("--revise-vision", help="ビジョンを改訂する")] = False,
    as_: As = None,
    on: DateOpt = None,
) -> None:
    """ACTION: 検証・改善を登録 (record the review and improvements)."""
    act = c.build(A.CompleteAction, {
        "actor": c.parse_actor(as_, zone), "fy": c.parse_fy(fy, "FY"), "reviewed_on": c.date_or_today(on),
        "results": results, "improvements": improvements, "revise_vision": revise_vision,
    }, "--results")  # fmt: skip
    c.perform(zone, act)
