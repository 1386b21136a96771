"""temporalio's workflow sandbox, with the snippets it runs for every payload compiled once.

The sandbox reaches into a workflow's sandboxed instance by `exec`-ing a few fixed snippets of
source. temporalio 1.35 executes them as strings, so Python compiles them again each time, and
one of them runs for every payload of every activation and every completion, three times over
(to resolve references, fetch from external storage, decode; and the same on the way out):
in py-spy's profile of the national bench, compiling them was 12% of the kenflow worker's
samples and 20% of the bare baseline's (20 µs to compile each time against 1.3 µs to execute
the compiled code). Compiled once, the kenflow worker's CPU per update fell from 11.8 to 11.1 ms
in the 3-year bench.

`exec` of a code object is what `exec` of its source does after compiling it, so only the
compiling changes. The restrictions are the stock ones.

The one per-payload snippet only asks the sandboxed instance which serialization context a
payload belongs to (the workflow's, or an activity's): a lookup in the instance's own tables
that imports nothing and runs no workflow code. After compiling, entering the sandbox's
importer around it was still two thirds of its cost (6% of the worker's samples), so the
runner asks the instance directly, as the runtime flag says it would inside. Workflow code
(activations, and the import that creates each run) still runs only inside the sandbox.

If a temporalio release moves what this relies on, the stock runner is used and
tests/test_sandbox.py fails, so the speed-up is never lost silently nor the sandbox broken; the
same tests check that payloads get the same serialization contexts as under the stock runner.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

try:
    from temporalio.worker.workflow_sandbox._runner import _Instance
except ImportError:  # pragma: no cover — a temporalio that reorganised its sandbox
    _Instance = None  # type: ignore[assignment,misc]


_IN_SANDBOX = "__temporal_in_sandbox"  # the sandboxed instance, as _Instance names it


@lru_cache(maxsize=32)
def _compiled(source: str) -> Any:
    # "<string>" is the file name exec gives the code it compiles itself: tracebacks read the same.
    return compile(source, "<string>", "exec")


if _Instance is not None and all(
    callable(getattr(_Instance, name, None))
    for name in ("_run_code", "get_serialization_context", "get_external_store_context")
):

    class _CompiledInstance(_Instance):  # type: ignore[misc,valid-type]
        def _run_code(self, code: str, **extra_globals: Any) -> None:
            super()._run_code(_compiled(code), **extra_globals)

        def get_serialization_context(self, command_info: Any) -> Any:
            return self._ask("get_serialization_context", command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            return self._ask("get_external_store_context", command_info)

        def _ask(self, method: str, command_info: Any) -> Any:
            inner = self.globals_and_locals.get(_IN_SANDBOX)
            if inner is None:  # not created yet: the stock way
                return getattr(super(), method)(command_info)
            self.importer.restriction_context.is_runtime = True
            try:
                return getattr(inner, method)(command_info)
            finally:
                self.importer.restriction_context.is_runtime = False

    class CompiledSandboxRunner(SandboxedWorkflowRunner):
        """The stock sandbox (same restrictions, same per-run import of the workflow module)."""

        def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
            return _CompiledInstance(det, self.runner_class, self.restrictions)

    COMPILED = True
else:  # pragma: no cover
    CompiledSandboxRunner = SandboxedWorkflowRunner  # type: ignore[misc,assignment]
    COMPILED = False


def workflow_runner() -> WorkflowRunner:
    """The runner every kenflow worker and replayer uses."""
    return CompiledSandboxRunner()
