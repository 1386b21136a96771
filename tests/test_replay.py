"""Every recorded history in tests/histories/ must replay on the current ZoneWorkflow: a change
that would break running zones (a NondeterminismError) fails here, before it is deployed.

Record them with `python -m tests.record_histories`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from kenflow.sandbox import workflow_runner
from workflows.zone import ZoneInput, ZoneWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
PHASES = {"declaration_agreements", "vision", "pdca_continue_as_new", "abolition", "metropolitan"}


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def test_a_history_for_every_phase_is_recorded() -> None:
    assert PHASES <= {p.stem for p in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path) -> None:
    # the runner the worker uses (kenflow/sandbox.py), so a replay runs what a worker runs
    replayer = Replayer(
        workflows=[ZoneWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(load(path))  # raises on any replay failure
    assert result.replay_failure is None


@workflow.defn(name="Zone", sandboxed=False)
class ReorderedZone:
    """The zone workflow with one command moved: it sleeps before doing anything."""

    @workflow.run
    async def run(self, inp: ZoneInput) -> None:
        await workflow.sleep(1)


async def test_a_nondeterministic_change_is_caught() -> None:
    replayer = Replayer(
        workflows=[ReorderedZone],
        data_converter=pydantic_data_converter,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES[0]))
