"""The zone CLI end to end: the real `kenflow` commands against the time-skipping Temporal
server, the real worker and a migrated SQLite read model, found through the same environment
variables a coordinator would set (TEMPORAL_ADDRESS, KENFLOW_DATABASE_URL …).

The CLI runs its own event loop (asyncio.run), so each command runs in a thread while this
test's loop keeps the worker going. The walk uses the files under examples/, so the README's
examples are known to work.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

import kenflow.cli.commands  # noqa: F401  (registers every command module)
from kenflow.cli import app
from kenflow.cli._common import parse_date
from tests.delivery_fixtures import Kenflow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ZONE = "settlement-252026"
HIKONE, AISHO, TOYOSATO, KORA = "252026", "254258", "254410", "254428"
runner = CliRunner()
SMALL_TOWN = """
programme: settlement
name: 豊郷定住自立圏
central_cities: [{code: "25441", name: 豊郷町, kind: town, population: 7400, day_night_ratio: 0.8}]
declaration: {will: 中心市となる, urban_functions: 役場, cooperation: 近隣町, declared_on: R8.4.1}
"""


def env_for(kf: Kenflow, tmp_path: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": kf.env.client.service_client.config.target_host,
        "KENFLOW_DATABASE_URL": kf.db.settings.db_url,
        "KENFLOW_DATA_DIR": str(tmp_path),
        "KENFLOW_TASK_QUEUE": kf.service.task_queue,
        "COLUMNS": "200",
    }


async def cli(env: dict[str, str], *args: str, code: int = 0) -> Result:
    result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


async def show_json(env: dict[str, str]) -> dict[str, Any]:
    return json.loads((await cli(env, "zone", "show", ZONE, "--json")).stdout)


async def test_zone_walk(kenflow: Kenflow, tmp_path: Path) -> None:
    env = env_for(kenflow, tmp_path)
    out = await cli(env, "zone", "start", str(EXAMPLES / "kotou-zone.yaml"))
    assert out.stdout.strip().splitlines()[-1] == ZONE
    small = tmp_path / "small.yaml"
    small.write_text(SMALL_TOWN)
    ineligible = await cli(env, "zone", "start", str(small), code=2)
    assert "要件を満たしていません" in ineligible.stderr and "例外" in ineligible.stderr
    dup = await cli(env, "zone", "start", str(EXAMPLES / "kotou-zone.yaml"), code=1)
    assert "既に開始" in dup.stderr and "already exists" in dup.stderr

    # One agreement per town from the zone file's `neighbours`, initiatives from the example.
    drafted = await cli(env, "agreement", "draft", ZONE, "--neighbour", str(EXAMPLES / "kotou-zone.yaml"),
                        "--initiatives", str(EXAMPLES / "agreement-initiatives.yaml"),
                        "--date", "令和8年5月15日", "--as", HIKONE)  # fmt: skip
    assert drafted.stdout.count("✓") == 4 and "愛荘町" in drafted.stdout

    await cli(env, "agreement", "resolve", ZONE, AISHO, "--council", HIKONE, "--date", "2026-06-20",
              "--number", "議案第12号", "--as", HIKONE)  # fmt: skip
    done = await cli(env, "agreement", "resolve", ZONE, "25425", "--council", "25425",
                     "--date", "令和8年6月25日", "--number", "議案第30号", "--as", AISHO)  # fmt: skip
    assert "協定締結" in done.stdout

    shown = (await cli(env, "zone", "show", ZONE)).stdout
    assert "締結済" in shown and "議決待ち" in shown and "ビジョン策定" in shown
    assert "令和8年6月25日" in shown and "令和8年4月1日" in shown  # concluded; declared (timeline)

    # A council that is no party to the agreement: refused, with the clerk's message, exit 2.
    refused = await cli(env, "agreement", "resolve", ZONE, TOYOSATO, "--council", KORA, "--date", "2026-06-30",
                        "--number", "議案第5号", "--as", KORA, code=2)  # fmt: skip
    assert "当事者ではありません" in refused.stderr and "not a party" in refused.stderr
    wrong_actor = await cli(env, "agreement", "resolve", ZONE, TOYOSATO, "--council", TOYOSATO,
                            "--date", "2026-06-30", "--number", "議案第5号", "--as", KORA, code=2)  # fmt: skip
    assert "254410" in wrong_actor.stderr
    assert "却下" in (await cli(env, "zone", "show", ZONE)).stdout  # the refusal is in the audit
    # --live: the workflow's own state and timeline (the entries of past runs unpacked)
    live = (await cli(env, "zone", "show", ZONE, "--live")).stdout
    assert "ワークフローから" in live and "令和8年6月25日" in live and "令和8年4月1日" in live
    live_state = json.loads((await cli(env, "zone", "show", ZONE, "--live", "--json")).stdout)
    acts = [e["act"] for e in live_state["timeline"]]
    assert acts[:2] == ["start", "declare"] and len(acts) == live_state["timeline_seq"], acts
    assert acts.count("draft_agreement") == 4 and acts.count("record_resolution") == 2, acts
    await cli(env, "agreement", "resolve", ZONE, TOYOSATO, "--council", TOYOSATO, "--date", "令和8年2月30日",
              "--number", "x", "--as", TOYOSATO, code=2)  # fmt: skip

    state = await show_json(env)
    assert state["phase"] == "vision" and state["agreements"][AISHO]["status"] == "concluded"

    listed = json.loads((await cli(env, "zone", "list", "--json")).stdout)
    assert [z["id"] for z in listed] == [ZONE] and listed[0]["phase"] == "vision"
    assert json.loads((await cli(env, "zone", "list", "--phase", "pdca", "--json")).stdout) == []
    assert json.loads((await cli(env, "zone", "list", "--prefecture", "滋賀県", "--json")).stdout)
    await cli(env, "zone", "list", "--prefecture", "ムー大陸", code=2)
    missing = await cli(env, "vision", "publish", "settlement-252034", "--as", "ministry", code=2)
    assert "見つかりません" in missing.stderr and "not found" in missing.stderr
    await cli(env, "zone", "show", "settlement-252034", "--live", code=2)

    overdue = json.loads((await cli(env, "overdue", "--as-of", "令和8年9月1日", "--json")).stdout)
    waits = {(o["kind"], o["detail"]) for o in overdue}
    assert waits == {("resolution-missing", f"{t}との協定") for t in ("豊郷町", "甲良町", "多賀町")}
    assert all(o["due_on"] == "2026-08-13" and o["days_overdue"] == 19 for o in overdue)
    assert "議決未登録" in (await cli(env, "overdue", "--as-of", "2026-09-01")).stdout

    stats = json.loads((await cli(env, "stats", "--json")).stdout)
    settlement = {r["figure"].split(" ")[0]: r for r in stats if r["programme"] == "settlement"}
    assert settlement["宣言中心市"]["kenflow"] == 1 and settlement["宣言中心市"]["seed"] == 138
    assert settlement["形成圏域"]["kenflow"] == 1 and settlement["構成市町村"]["kenflow"] == 2
    assert "533" in (await cli(env, "stats")).stdout

    await vision_and_kpis(env, tmp_path)


async def vision_and_kpis(env: dict[str, str], tmp_path: Path) -> None:
    """The rest of the lifecycle: vision, yearly review, a bulk KPI upload and the export."""
    await cli(
        env, "vision", "draft", ZONE, str(EXAMPLES / "vision.yaml"), "--date", "令和8年9月1日", "--as", HIKONE
    )
    await cli(env, "vision", "review", ZONE, str(EXAMPLES / "council-review.yaml"), "--as", HIKONE)
    early = await cli(env, "vision", "publish", ZONE, "--date", "2026-11-01", "--as", HIKONE, code=2)
    assert "愛荘町" in early.stderr  # still waiting for its answer
    await cli(env, "vision", "consult", ZONE, AISHO, "--answer", "agree", "--date", "R8.10.20", "--as", AISHO)
    await cli(env, "vision", "publish", ZONE, "--date", "2026-11-01", "--as", HIKONE)
    await cli(env, "fy", "review", ZONE, "令和8年度", "--as", "ministry")

    bad = tmp_path / "bad.csv"
    bad.write_text("指標ID,年度,実績値\nsick-child-care,R8,530\nno-such-kpi,R8,1\nbus-riders,R99,10000\n")
    rejected = await cli(env, "kpi", "actuals", ZONE, str(bad), "--as", HIKONE, code=2)
    assert "3行目" in rejected.stderr and "4行目" in rejected.stderr and "0件" in rejected.stderr
    assert (await show_json(env))["actuals"] == []  # nothing changed

    good = tmp_path / "actuals.csv"
    good.write_text('指標ID,年度,実績値,見込\nsick-child-care,R8,530,\nbus-riders,2026,"10,458",見込\n')
    await cli(env, "kpi", "actuals", ZONE, str(good), "--as", AISHO)
    state = await show_json(env)
    assert {(a["kpi_id"], a["value"], a["estimate"]) for a in state["actuals"]} == {
        ("sick-child-care", 530.0, False), ("bus-riders", 10458.0, True)}  # fmt: skip

    await cli(env, "fy", "plan", ZONE, "R8", "--plan", "病児保育の周知を強化する", "--as", HIKONE)
    await cli(env, "fy", "check", ZONE, "2026", "--as", HIKONE)
    shown = (await cli(env, "zone", "show", ZONE)).stdout
    assert "PDCA" in shown and "令和8年度 CHECK" in shown and "ACTION" in shown and "10,458(見込)" in shown

    sheet = tmp_path / "kpi.csv"
    await cli(env, "kpi", "export", ZONE, "--format", "csv", "-o", str(sheet))
    text = sheet.read_text(encoding="utf-8-sig")
    assert text.startswith("圏域ID,指標ID") and "令和8年度" in text and "sick-child-care" in text

    await cli(env, "agreement", "abolish", ZONE, AISHO, "--resolution-date", "令和8年11月10日",
              "--number", "議案第40号", "--date", "2026-11-12", "--as", AISHO)  # fmt: skip
    assert "廃止予告中" in (await cli(env, "zone", "show", ZONE)).stdout


async def test_single_city_policy(kenflow: Kenflow, tmp_path: Path) -> None:
    """A merged city forming a zone alone adopts a 形成方針 instead of agreements."""
    env = env_for(kenflow, tmp_path)
    zone = tmp_path / "single.yaml"
    text = (EXAMPLES / "kotou-zone.yaml").read_text(encoding="utf-8")
    zone.write_text(text.replace("programme: settlement", "single_city: true\nprogramme: settlement"))
    await cli(env, "zone", "start", str(zone))
    out = await cli(env, "policy", "adopt", ZONE, "--initiatives", str(EXAMPLES / "agreement-initiatives.yaml"),
                    "--date", "令和8年6月20日", "--number", "議案第12号", "--as", HIKONE)  # fmt: skip
    assert "形成方針" in out.stdout
    assert (await show_json(env))["phase"] == "vision"


def test_no_temporal_exits_1(tmp_path: Path) -> None:
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "KENFLOW_DATA_DIR": str(tmp_path)}
    result = runner.invoke(app, ["zone", "start", str(EXAMPLES / "kotou-zone.yaml")], env=env)
    assert result.exit_code == 1 and "kenflow up" in result.stderr and "TEMPORAL_ADDRESS" in result.stderr
    result = runner.invoke(app, ["zone", "show", ZONE, "--live"], env=env)
    assert result.exit_code == 1


def test_bad_input_exits_2_without_traceback(tmp_path: Path) -> None:
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:1", "KENFLOW_DATA_DIR": str(tmp_path)}
    broken = tmp_path / "zone.yaml"
    broken.write_text("programme: settlement\nname: 湖東\ncentral_cities: [{code: '252027', name: 彦根市}]\n")
    small = tmp_path / "small.yaml"
    small.write_text(SMALL_TOWN)
    for args in (
        ["zone", "start", str(broken)],  # wrong check digit, caught before connecting
        ["zone", "start", str(tmp_path / "missing.yaml")],
        ["zone", "start", str(small)],  # ineligible: refused before connecting
        ["fy", "review", ZONE, "令和99年度", "--as", "ministry"],
        ["agreement", "resolve", ZONE, "254258", "--council", "254258", "--date", "x", "--number", "1",
         "--as", "254258"],
        ["vision", "publish", ZONE, "--as", "総務省じゃない"],
        ["zone", "show", ZONE],
    ):  # fmt: skip
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert "エラー (error)" in result.stderr and "Traceback" not in result.output
    assert "252026" in runner.invoke(app, ["zone", "start", str(broken)], env=env).stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2026-06-20", date(2026, 6, 20)), ("令和8年6月20日", date(2026, 6, 20)), ("R8.6.20", date(2026, 6, 20)),
     ("令和元年5月1日", date(2019, 5, 1)), ("平成31年4月30日", date(2019, 4, 30)),
     ("２０２６／６／２０", date(2026, 6, 20)), ("2026年6月20日", date(2026, 6, 20)), ("H27.4.1", date(2015, 4, 1))],
)  # fmt: skip
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["平成31年5月1日", "令和8年13月1日", "2026-02-30", "明日", "M45.1.1"])
def test_parse_date_refuses(text: str) -> None:
    import typer

    with pytest.raises(typer.Exit) as exc:
        parse_date(text)
    assert exc.value.exit_code == 2


def test_overdue_lists_what_still_waits_even_after_reminders() -> None:
    """An expired vision is listed once (not also as "expiring"), with its first due date, and a
    reminder already sent does not hide it."""
    from datetime import UTC, datetime

    from kenflow.cli.national import waiting
    from models import acts as A
    from models.lifecycle import initial_state
    from models.zone import FiscalYearReview
    from tests import factories as f

    initiatives = f.vision_draft(f.HIKONE, date(2019, 6, 1), 2019).initiatives
    vision = A.PastVision(
        title="湖東定住自立圏共生ビジョン", period_start_fy=2019, period_end_fy=2023,
        published_on=date(2019, 6, 1), kpis=f.kpis(), initiatives=initiatives,
    )  # fmt: skip
    past = A.RecordedPast(
        agreements=[A.PastAgreement(neighbour=f.NEIGHBOURS[0], concluded_on=date(2018, 10, 1))], vision=vision
    )
    state, _ = initial_state(f.start(declared_on=date(2018, 5, 1), past=past), datetime.now(UTC))
    state.reviews[2024] = FiscalYearReview(fy=2024, requested_on=date(2024, 4, 1), requested_by="kenflow")
    state.reminders_fired = ["vision-expired:v1", "kpi-actuals-due:2024#1"]
    items = {i["kind"]: i for i in waiting(state, date(2025, 7, 1))}
    assert set(items) == {"vision-expired", "kpi-actuals-due"}
    assert (
        items["vision-expired"]["due_on"] == "2024-04-01" and items["vision-expired"]["days_overdue"] == 456
    )
    assert (
        items["kpi-actuals-due"]["due_on"] == "2025-05-31" and items["kpi-actuals-due"]["reminders_sent"] == 1
    )
    assert (
        items["kpi-actuals-due"]["detail"] == "令和6年度"
        and "愛荘町" in items["kpi-actuals-due"]["waiting_on"]
    )
