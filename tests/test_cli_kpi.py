"""`kenflow kpi evaluate`: the seed's KPIs typed as users would, and bad input exiting 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import kenflow.cli.kpi  # noqa: F401  (registers the `kpi` sub-app)
from kenflow.cli import app

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["kpi", "evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_hikone_json() -> None:
    out = run_json("--baseline", "484@H26", "--target", "600@H31", "--actual", "555@H29")
    # (555 − 484)/(600 − 484) = 71/116 = 61.2% → C; expected 484 + 116·3/5 = 553.6 → on_track
    assert out["achievement_rate"] == pytest.approx(71 / 116 * 100)
    assert out["expected_value"] == pytest.approx(553.6)
    assert (out["status"], out["grade"], out["fy"]) == ("on_track", "C", 2017)


def test_hikone_human_summary() -> None:
    result = runner.invoke(
        app, ["kpi", "evaluate", "--baseline", "484@H26", "--target", "600@H31", "--actual", "555@H29"]
    )
    assert result.exit_code == 0
    assert "61.2%" in result.stdout and "順調" in result.stdout and "on track" in result.stdout
    assert "平成29年度" in result.stdout and "553.6" in result.stdout


def test_bus_with_separators_and_estimate() -> None:
    out = run_json(
        "--baseline", "9,259@平成27年度", "--target", "12,000@2019", "--actual", "10,458@H30", "--estimate"
    )
    # 1199/2741 = 43.7% → D; expected 9259 + 2741·3/4 = 11314.75 → behind
    assert round(out["achievement_rate"], 1) == 43.7 and out["expected_value"] == pytest.approx(11314.75)
    assert (out["status"], out["grade"], out["estimate"]) == ("behind", "D", True)


def test_lower_is_better() -> None:
    out = run_json(
        "--baseline",
        "211,145千円@H29",
        "--target",
        "186,395千円@R元",
        "--actual",
        "190,000@R1",
        "--kind",
        "lower",
    )
    # (190000 − 211145)/(186395 − 211145) = 21145/24750 = 85.4% → B; expected 186,395 → behind
    assert out["achievement_rate"] == pytest.approx(21145 / 24750 * 100)
    assert (out["status"], out["grade"]) == ("behind", "B")


def test_milestone_and_maintain() -> None:
    out = run_json(
        "--baseline", "未策定@H28", "--target", "策定済@H29", "--actual", "策定済@H29", "--kind", "milestone"
    )
    assert (out["achievement_rate"], out["status"], out["grade"]) == (100.0, "achieved", "A")
    out = run_json(
        "--baseline", "53.0%@H30", "--target", "53.0%@R元", "--actual", "50@R元", "--kind", "maintain"
    )
    # below the level: 50/53 = 94.3% → A, but under the expected 53 → behind
    assert out["achievement_rate"] == pytest.approx(50 / 53 * 100) and out["status"] == "behind"


def test_cumulative_span() -> None:
    out = run_json(
        "--baseline",
        "134@H29-H30",
        "--target",
        "350@H29-R3",
        "--actual",
        "240@H29-R元",
        "--kind",
        "cumulative",
    )
    # (240 − 134)/(350 − 134) = 106/216 = 49.1% → D; expected 134 + 216·1/3 = 206 → on_track
    assert out["achievement_rate"] == pytest.approx(106 / 216 * 100) and out[
        "expected_value"
    ] == pytest.approx(206)
    assert (out["status"], out["grade"]) == ("on_track", "D")
    assert out["baseline"] == {"value": 134.0, "fy": 2018, "from_fy": 2017}


def test_no_actual_needs_a_fy() -> None:
    out = run_json("--baseline", "484@H26", "--target", "600@H31", "--fy", "R元")
    assert (out["status"], out["achievement_rate"], out["grade"], out["expected_value"]) == (
        "no_data",
        None,
        None,
        600,
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--baseline", "484", "--target", "600@H31", "--actual", "555@H29"], "VALUE@FY"),
        (["--baseline", "484@X26", "--target", "600@H31", "--actual", "555@H29"], "era"),
        (["--baseline", "4,84@H26", "--target", "600@H31", "--actual", "555@H29"], "thousands"),
        (["--baseline", "600@H26", "--target", "484@H31", "--actual", "555@H29"], "kind=lower"),
        (["--baseline", "484@H31", "--target", "600@H26", "--actual", "555@H29"], "before baseline"),
        (["--baseline", "484@H26", "--target", "600@H31"], "--actual or --fy"),
        (["--baseline", "134@H29-H30", "--target", "350@H29-R3", "--actual", "240@H29"], "cumulative"),
        (
            [
                "--baseline",
                "134@H29-H30",
                "--target",
                "350@H29-R3",
                "--actual",
                "240@H30-R1",
                "--kind",
                "cumulative",
            ],
            "start",
        ),
        (
            ["--baseline", "0@H28", "--target", "2@H29", "--actual", "1@H29", "--kind", "milestone"],
            "milestone",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message(args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["kpi", "evaluate", *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_real_process_exit_code_and_no_traceback() -> None:
    code = "import kenflow.cli.kpi; from kenflow.cli import app; app()"
    bad = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "kpi",
            "evaluate",
            "--baseline",
            "x@H26",
            "--target",
            "600@H31",
            "--fy",
            "H29",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "エラー" in bad.stderr
    good = subprocess.run(
        [sys.executable, "-c", code, "kpi", "evaluate", "--baseline", "484@H26", "--target", "600@H31"]
        + ["--actual", "555@H29", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert good.returncode == 0 and json.loads(good.stdout)["grade"] == "C"
