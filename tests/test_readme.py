"""The README's Quick start is the contract with a new user and with CI: exactly two
commands, the first ending in `kenflow up`, the second being what `.ci/run` executes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("# kenflow")
    quick = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert quick, "README.md needs a '## Quick start' section"
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", quick.group(1), re.S)]


def test_quick_start_has_exactly_two_commands() -> None:
    blocks = quick_start_blocks()
    assert len(blocks) == 2
    assert all("\n" not in b for b in blocks), "each block is one command line"
    assert blocks[0].endswith("kenflow up")
    assert "pytest" in blocks[1] and "[test]" in blocks[1]


def test_ci_runs_the_second_command_exactly() -> None:
    """Run .ci/run's own extraction step and compare with the README."""
    script = (ROOT / ".ci/run").read_text()
    extractor = re.search(r"<<'PY'\n(.*?)\nPY", script, re.S).group(1)
    out = subprocess.run(["python3", "-c", extractor], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == quick_start_blocks()[1]
    assert 'exec bash -c "$test_command"' in script
