"""`kenflow eligibility`, run through the real Typer app and the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

import kenflow.cli.commands  # noqa: F401  # registers every command, as `kenflow` itself does
from kenflow.cli import app

runner = CliRunner()
HIKONE = ["--population", "112156", "--day-night-ratio", "1.03", "--prefecture", "滋賀県"]


def _argv(args: list[str]) -> list[str]:
    # Typer runs a lone command as the root command; with several, `eligibility` is a subcommand.
    several = len(app.registered_commands) + len(app.registered_groups) > 1
    return ["eligibility", *args] if several else args


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, _argv(list(args)), env={"COLUMNS": "200"})


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def reason(data: dict, rule: str) -> dict:
    return next(r for r in data["reasons"] if r["rule"] == rule)


def test_human_output_is_a_japanese_table() -> None:
    result = run(*HIKONE)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "定住自立圏 中心市の要件" in out
    assert "人口 112,156人 ≥ 50,000人" in out and "○ 適合 (passed)" in out
    assert "判定結果: 要件を満たします (eligible)" in out


def test_json_has_eligible_and_reasons() -> None:
    data = run_json(*HIKONE)
    assert data["eligible"] is True and data["programme"] == "settlement"
    assert all({"rule", "passed", "detail"} <= r.keys() for r in data["reasons"])
    assert reason(data, "population")["detail"] == "人口 112,156人 ≥ 50,000人"


def test_not_eligible_still_exits_zero() -> None:
    result = run("--population", "30000", "--day-night-ratio", "0.9", "--prefecture", "25")
    assert result.exit_code == 0
    assert "要件を満たしません (not eligible)" in result.stdout and "× 不適合 (failed)" in result.stdout
    data = run_json("--population", "30000", "--day-night-ratio", "0.9", "--prefecture", "25")
    assert data["eligible"] is False
    assert (
        reason(data, "population")["passed"] is False and reason(data, "day_night_ratio")["passed"] is False
    )


def test_about_fifty_thousand_is_a_caveat() -> None:
    data = run_json("--population", "45,000", "--day-night-ratio", "1.1", "--prefecture", "滋賀")
    assert data["eligible"] is True and data["outcome"] == "eligible_with_caveats"
    assert reason(data, "population")["status"] == "caveat"
    assert (
        "△ 要確認" in run("--population", "45000", "--day-night-ratio", "1.1", "--prefecture", "滋賀").stdout
    )


@pytest.mark.parametrize(("share", "passed"), [("9.9", True), ("6%", True), ("10", False), ("42.5", False)])
def test_ten_percent_commuting_rule(share: str, passed: bool) -> None:
    data = run_json(
        "--population",
        "56000",
        "--day-night-ratio",
        "1.01",
        "--prefecture",
        "岐阜県",
        "--commute-share-to-metro",
        share,
    )
    assert reason(data, "location")["passed"] is passed and data["eligible"] is passed


def test_metro_area_prefecture_without_share_is_undetermined() -> None:
    data = run_json("--population", "56000", "--day-night-ratio", "1.01", "--prefecture", "三重県")
    assert data["eligible"] is False and data["outcome"] == "undetermined"
    assert reason(data, "location")["status"] == "unknown"


def test_merged_city_alternative() -> None:
    base = ["--population", "80000", "--day-night-ratio", "0.96", "--prefecture", "滋賀県"]
    assert run_json(*base)["eligible"] is False
    data = run_json(*base, "--largest-former-city-ratio", "1.05")
    assert data["eligible"] is True and "人口最大の旧市" in reason(data, "day_night_ratio")["detail"]
    assert run_json(*base, "--largest-former-city-ratio", "0.99")["eligible"] is False


def test_metropolitan_hub() -> None:
    core = ["--population", "535664", "--day-night-ratio", "1.0", "--prefecture", "兵庫県", "--core"]
    data = run_json(*core, "--programme", "metropolitan", "--commute-share-to-metro", "4")
    assert data["eligible"] is True and data["programme"] == "metropolitan"
    not_hub = run_json(
        "--population",
        "200000",
        "--day-night-ratio",
        "1.2",
        "--prefecture",
        "富山県",
        "--programme",
        "metropolitan",
    )
    assert not_hub["eligible"] is False and reason(not_hub, "designated_or_core")["passed"] is False
    assert (
        "連携中枢都市圏"
        in run(*core, "--programme", "連携中枢都市圏", "--commute-share-to-metro", "4").stdout
    )


def test_designated_city_is_not_a_settlement_central_city() -> None:
    data = run_json(
        "--population", "1952356", "--day-night-ratio", "1.007", "--prefecture", "北海道", "--designated"
    )
    assert data["eligible"] is False and reason(data, "not_designated")["passed"] is False


def test_municipality_code_and_full_width_figures() -> None:
    data = run_json(
        "--population", "１１２，１５６", "--day-night-ratio", "１．０３", "--prefecture", "252026"
    )
    assert data["eligible"] is True and reason(data, "population")["detail"] == "人口 112,156人 ≥ 50,000人"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--population", "-5", "--day-night-ratio", "1", "--prefecture", "滋賀県"],
            "population cannot be negative",
        ),
        (["--population", "abc", "--day-night-ratio", "1", "--prefecture", "滋賀県"], "whole number"),
        (["--population", "5.5", "--day-night-ratio", "1", "--prefecture", "滋賀県"], "whole number"),
        (["--population", "50000", "--day-night-ratio", "x", "--prefecture", "滋賀県"], "is not a number"),
        (["--population", "50000", "--day-night-ratio", "-1", "--prefecture", "滋賀県"], "between 0 and"),
        (["--population", "50000", "--day-night-ratio", "103.2", "--prefecture", "滋賀県"], "not an index"),
        (["--population", "50000", "--day-night-ratio", "nan", "--prefecture", "滋賀県"], "between 0 and"),
        (["--population", "50000", "--day-night-ratio", "1", "--prefecture", "火星"], "unknown prefecture"),
        (["--population", "50000", "--day-night-ratio", "1", "--prefecture", "99"], "unknown prefecture"),
        (["--population", "50000", "--day-night-ratio", "1", "--prefecture", "252027"], "check digit"),
        (
            [
                "--population",
                "50000",
                "--day-night-ratio",
                "1",
                "--prefecture",
                "岐阜県",
                "--commute-share-to-metro",
                "120",
            ],
            "between 0 and 100",
        ),
        (
            [
                "--population",
                "50000",
                "--day-night-ratio",
                "1",
                "--prefecture",
                "滋賀県",
                "--largest-former-city-ratio",
                "abc",
            ],
            "is not a number",
        ),
        (
            [
                "--population",
                "50000",
                "--day-night-ratio",
                "1",
                "--prefecture",
                "滋賀県",
                "--programme",
                "foo",
            ],
            "settlement or metropolitan",
        ),
        (
            [
                "--population",
                "50000",
                "--day-night-ratio",
                "1",
                "--prefecture",
                "滋賀県",
                "--designated",
                "--core",
            ],
            "designated or core",
        ),
    ],
)
def test_bad_input_exits_2_with_a_bilingual_message(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "エラー" in result.stderr
    assert result.stdout == ""


def test_missing_required_option_exits_2() -> None:
    assert run("--population", "50000").exit_code == 2


@pytest.mark.skipif(shutil.which("kenflow") is None, reason="console script not installed")
def test_installed_console_script() -> None:
    args = _argv([*HIKONE, "--json"])
    done = subprocess.run(["kenflow", *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["eligible"] is True
    bad = subprocess.run(
        ["kenflow", *_argv(["--population", "-1", "--day-night-ratio", "1", "--prefecture", "滋賀県"])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "population cannot be negative" in bad.stderr
