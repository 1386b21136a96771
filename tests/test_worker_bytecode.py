"""The worker writes the workflow module's bytecode at start, so the sandbox's fresh import of
workflows/zone.py for every run (each zone continues as new every fiscal year) reads a .pyc
instead of compiling the source again, even where PYTHONDONTWRITEBYTECODE is set."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import worker
from workflows import zone


def test_the_workflow_module_is_compiled_once_at_start() -> None:
    source = Path(zone.__file__)
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink(missing_ok=True)

    worker.compile_workflow_module()

    assert cached.exists()
    # What the import system checks before it trusts a .pyc: magic number and source mtime.
    header = cached.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(header[8:12], "little") == int(source.stat().st_mtime) & 0xFFFFFFFF
    loader = importlib.machinery.SourceFileLoader("workflows.zone", str(source))
    assert loader.get_code("workflows.zone") is not None  # reads the .pyc above without error
