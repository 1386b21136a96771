"""Shared plumbing for the zone CLI: settings, the Temporal connection, actors, dates, files.

Every failure a user can cause ends here as a bilingual message and an exit code (2 for bad
input or a refused act, 1 for "the system is not reachable" or a duplicate zone) so that
scripts can branch on the code and people never see a traceback.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from kenflow.settings import Settings
from models import acts as A
from models.actor import Actor, Role
from models.codes import CodeError, normalize_municipality_code
from models.era import (
    ERA_BY_LETTER,
    ERA_BY_NAME,
    FiscalYearError,
    era_of_date,
    format_date_ja,
    parse_fiscal_year,
)
from models.fiscal import current_jst_date
from models.perspective import FIELDS, PERSPECTIVE_JA, Perspective

T = TypeVar("T")
console = Console(highlight=False)
MINISTRY_NAME = "総務省"
TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- failing


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"エラー (error): {message}", err=True)
    raise typer.Exit(code)


def validation_reasons(err: ValidationError) -> str:
    """One line per problem, with the path into the file, without pydantic's boilerplate."""
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(file)"
        lines.append(f"  {where}: {str(e['msg']).removeprefix('Value error, ')}")
    return "\n".join(lines)


def settings() -> Settings:
    """Fresh on every command (not get_settings' cache), so the environment of each run counts."""
    return Settings()


# --------------------------------------------------------------------------- Temporal


def run_service(fn: Callable[[Any], Awaitable[T]], timeout: float = TIMEOUT_S) -> T:
    """Connect to Temporal, run `fn(ZoneService)` and turn every failure into an exit code."""
    from temporalio.service import RPCError, RPCStatusCode

    from kenflow.service import Refused, ZoneBusy, ZoneExists, ZoneNotFound, ZoneService
    from kenflow.temporal import connect

    s = settings()

    async def main() -> T:
        try:
            client = await asyncio.wait_for(connect(s), timeout=10)
        except Exception as err:  # the SDK raises RuntimeError or TimeoutError alike
            fail(
                f"Temporal ({s.temporal_target}) に接続できません。`kenflow up` を実行するか、"
                f"TEMPORAL_ADDRESS を設定してください "
                f"(cannot connect to Temporal at {s.temporal_target}: run `kenflow up` or set "
                f"TEMPORAL_ADDRESS) [{type(err).__name__}]",
                code=1,
            )
        return await asyncio.wait_for(fn(ZoneService(client, s.task_queue)), timeout=timeout)

    try:
        return asyncio.run(main())
    except Refused as err:
        fail(f"受け付けられませんでした (refused): {err}")
    except ZoneNotFound as err:
        fail(str(err))
    except ZoneExists as err:
        fail(str(err), code=1)
    except ZoneBusy as err:
        fail(str(err), code=1)
    except TimeoutError:
        fail(
            f"{timeout:.0f}秒以内にワーカーが応答しませんでした。`kenflow up` か `kenflow worker` が"
            "動いているか確認してください。同じコマンドの再実行は安全です(重複は無視されます) "
            f"(no worker answered within {timeout:.0f} s; is `kenflow up` or `kenflow worker` running? "
            "re-running the same command is safe)",
            code=1,
        )
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            fail(
                f"Temporal ({s.temporal_target}) との接続が切れました。`kenflow up` を実行するか、"
                f"TEMPORAL_ADDRESS を設定してください (lost the connection to Temporal: {err.message})",
                code=1,
            )
        fail(
            f"Temporal がエラーを返しました (Temporal error: {err.status.name if err.status else ''} "
            f"{err.message})"
        )


# --------------------------------------------------------------------------- read model


def read_engine() -> Engine:
    """The read model, migrated to head so a fresh data directory simply reads as empty."""
    from kenflow.db.engine import engine_for
    from kenflow.db.migrate import upgrade

    url = settings().db_url
    try:
        upgrade(url)
    except (SQLAlchemyError, OSError) as err:
        fail(f"データベースを開けません: {url} (cannot open the read-model database: {err})", code=1)
    return engine_for(url)


def existing_engine() -> Engine | None:
    """The read model if it is already there; acts use it only for courtesy (names, audit, waiting),
    so a CLI pointed at a remote cluster never creates a stray local database."""
    from sqlalchemy import make_url

    from kenflow.db.engine import engine_for

    url = settings().db_url
    u = make_url(url)
    if u.drivername.startswith("sqlite") and (not u.database or not Path(u.database).exists()):
        return None
    return engine_for(url)


def record_refusal(zone_id: str, act: A.Act, reason: str) -> None:
    """A refused act leaves no trace in the workflow, so the audit keeps it (as the web does)."""
    engine = existing_engine()
    if engine is None:
        return
    try:
        from kenflow.db.audit import record_refusal as record

        record(engine, zone_id, act, act.actor, reason)
    except SQLAlchemyError:
        pass


def wait_for_projection(zone_id: str, version: int, within: float = 5.0) -> None:
    """Let `kenflow zone show` right after an act show that act: wait until the read model has it."""
    engine = existing_engine()
    if engine is None:
        return
    from sqlmodel import Session

    from kenflow.db.tables import ZoneRow

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with Session(engine) as s:
                row = s.get(ZoneRow, zone_id)
                if row is not None and row.version >= version:
                    return
        except SQLAlchemyError:
            return
        time.sleep(0.1)


# --------------------------------------------------------------------------- actors


def municipality_name(code: str, zone_id: str | None = None) -> str | None:
    """A name for the code from the read model (zone members first, then the municipality table)."""
    engine = existing_engine()
    if engine is None:
        return None
    from kenflow.db.queries import get_municipality, zone_members

    try:
        if zone_id:
            for m in zone_members(engine, zone_id):
                if m.municipality_code == code:
                    return m.name
        row = get_municipality(engine, code)
        return row.name if row else None
    except SQLAlchemyError:
        return None


def parse_actor(text: str | None, zone_id: str | None = None) -> Actor:
    """`--as ministry` (or 総務省) or `--as CODE` (five or six digits)."""
    if text is None or not text.strip():
        fail(
            "--as で実施者を指定してください(団体コード または ministry) "
            "(say who acts with --as CODE or --as ministry, or set KENFLOW_AS)"
        )
    t = unicodedata.normalize("NFKC", text).strip()
    if t.lower() in ("ministry", "mic") or t == MINISTRY_NAME:
        return Actor(role=Role.ministry, name=MINISTRY_NAME)
    try:
        code = normalize_municipality_code(t)
    except CodeError as err:
        fail(f"--as: {err}。総務省として行う場合は --as ministry (use --as ministry for the ministry)")
    return Actor(role=Role.municipality, code=code, name=municipality_name(code, zone_id))


def parse_code(text: str, option: str) -> str:
    try:
        return normalize_municipality_code(text)
    except CodeError as err:
        fail(f"{option}: {err}")


AS_HELP = "実施者: 団体コード または ministry (who acts; env KENFLOW_AS)"


def as_option() -> Any:
    return typer.Option("--as", envvar="KENFLOW_AS", help=AS_HELP)


# --------------------------------------------------------------------------- dates and years

_ISO = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")
_WAREKI = re.compile(
    r"^(?P<era>[A-Z]|[\u4e00-\u9fff]{2})\.?(?P<y>元|\d{1,2})[年.\-/](?P<m>\d{1,2})[月.\-/](?P<d>\d{1,2})日?$"
)


def parse_date(text: str | date, option: str = "日付") -> date:
    """2026-06-20, 2026/6/20, 2026年6月20日, 令和8年6月20日, R8.6.20 (full-width too).

    A date outside its era (平成31年5月1日) is refused with the date it probably means, because
    a resolution dated in the wrong era is a typo a council secretary wants to hear about.
    """
    if isinstance(text, date):
        return text
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).upper()
    if m := _ISO.match(s):
        return _ymd(int(m[1]), int(m[2]), int(m[3]), text, option)
    m = _WAREKI.match(s)
    era = m and (ERA_BY_LETTER.get(m["era"]) or ERA_BY_NAME.get(m["era"]))
    if not m or era is None:
        _bad_date(text, option)
    d = _ymd(era.gregorian(1 if m["y"] == "元" else int(m["y"])), int(m["m"]), int(m["d"]), text, option)
    if d < era.start or era_of_date(d) is not era:
        fail(
            f"{option}「{text}」は{era.name}の期間外です。{format_date_ja(d)} のことですか "
            f"({text!r} is outside the {era.romaji} era; did you mean {d.isoformat()}?)"
        )
    return d


def _ymd(y: int, m: int, d: int, text: object, option: str) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        _bad_date(text, option)


def _bad_date(text: object, option: str) -> NoReturn:
    fail(
        f"{option}「{text}」を日付として読めません。例: 2026-06-20、令和8年6月20日、R8.6.20 "
        f"(cannot read {text!r} as a date; e.g. 2026-06-20 or 令和8年6月20日)"
    )


def date_or_today(text: str | None, option: str = "--date") -> date:
    return current_jst_date() if text is None else parse_date(text, option)


def parse_fy(text: str, option: str = "年度 (FY)") -> int:
    try:
        return parse_fiscal_year(text)
    except FiscalYearError as err:
        fail(f"{option}: {err}")


# --------------------------------------------------------------------------- input files


class _Loader(yaml.SafeLoader):
    """YAML without octal or sexagesimal integers: 01202 (a Hokkaido code) stays text."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:int"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)

_DATE_KEYS = re.compile(r".*_on$")
_FY_KEYS = frozenset({"fy", "from_fy", "period_start_fy", "period_end_fy", "set_on_fy"})
_CODE_KEYS = frozenset({"code", "municipality_code", "neighbour_code", "hub_code", "agreement", "by"})
_PERSPECTIVE_BY_JA = {ja: p.value for p, ja in PERSPECTIVE_JA.items()}


def load_file(path: Path) -> Any:
    """YAML or JSON, with dates (和暦 too), fiscal years (R3) and codes made ready for pydantic."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"ファイルがありません: {path} (file not found)")
    except (OSError, UnicodeDecodeError) as err:
        fail(f"ファイルを読めません: {path} (cannot read the file: {err})")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.load(text, Loader=_Loader)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        fail(f"{path} を YAML/JSON として読めません (cannot parse {path}: {err})")
    if data is None:
        fail(f"{path} が空です (the file is empty)")
    return normalize_input(data, str(path))


def normalize_input(data: Any, where: str) -> Any:
    if isinstance(data, list):
        return [normalize_input(x, where) for x in data]
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        k = str(key)
        if isinstance(value, str) and _DATE_KEYS.match(k):
            value = parse_date(value, f"{where}: {k}")
        elif isinstance(value, str) and k in _FY_KEYS:
            value = parse_fy(value, f"{where}: {k}")
        elif isinstance(value, int) and not isinstance(value, bool) and k in _CODE_KEYS:
            value = str(value)
        elif k == "municipalities" and isinstance(value, list):
            value = [str(v) for v in value]
        else:
            value = normalize_input(value, where)
        out[k] = value
    return _perspective_words(out)


def _perspective_words(d: dict[str, Any]) -> dict[str, Any]:
    """Let files say 生活機能の強化 / 医療 instead of living / a, as the seed's documents do."""
    p = d.get("perspective")
    if isinstance(p, str) and p in _PERSPECTIVE_BY_JA:
        d["perspective"] = p = _PERSPECTIVE_BY_JA[p]
    f = d.get("field")
    if isinstance(p, str) and isinstance(f, str) and p in Perspective.__members__ and len(f) > 1:
        letters = {label: letter for letter, label in FIELDS[Perspective(p)].items()}
        d["field"] = letters.get(f, f)
    return d


def build(model: type[T], data: Any, where: str) -> T:
    """model.model_validate, failing with the file's problems listed one per line."""
    try:
        return model.model_validate(data)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as err:
        fail(f"{where} の内容に誤りがあります (invalid content):\n{validation_reasons(err)}")


# --------------------------------------------------------------------------- acts


def perform(zone_id: str, act: A.Act | Callable[[Any], Awaitable[A.Act]]) -> A.ActResult:
    """Send one act (or the act an async builder makes once connected); print its summary.

    On refusal the act is audited and the command exits 2 with the clerk's message.
    """
    from kenflow.service import Refused

    async def go(service: Any) -> A.ActResult:
        a = act if isinstance(act, A.Act) else await act(service)
        try:
            return await service.act(zone_id, a)  # type: ignore[no-any-return]
        except Refused as err:
            record_refusal(zone_id, a, str(err))
            raise

    result = run_service(go)
    print_result(result)
    if not result.duplicate:
        wait_for_projection(zone_id, result.version)
    return result


def print_result(result: A.ActResult) -> None:
    if result.duplicate:
        console.print(
            f"[yellow]＝[/] 登録済みの内容です。変更はありません (already recorded; nothing changed) "
            f"— {result.zone_id}"
        )
        return
    console.print(f"[green]✓[/] {escape(result.summary)} — {result.zone_id} (v{result.version})")
