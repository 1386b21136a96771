"""The one door from the outside world (API, CLI, scheduler, bench) into zone workflows.

It turns Temporal's errors into the three answers a caller needs: refused (with the clerk's
message), not found, or done. Callers never see Temporal types.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from models import acts as A
from models.lifecycle import ActRefused, validate_start
from models.zone import ZoneState
from models.zone_input import ZoneInput
from workflows.zone import ZoneWorkflow


class Refused(Exception):
    """The act was refused by the rules; `str(self)` is the clerk's message."""


class ZoneNotFound(Exception):
    pass


class ZoneExists(Exception):
    pass


class ZoneBusy(Exception):
    """The zone's workflow could not take the act for a while: its workflow task kept failing
    or timing out (a stalled worker, or a bug). Nothing was recorded; sending again is safe."""


# Seconds between tries (15.5 s in all) of an act whose zone's workflow task has failed or timed
# out: the server refuses updates until a retried task completes. Seen under bench/api_load.py
# on 2 busy cores: a task that outlived its 10 s timeout, and 17 acts answered 503 over the ~25 s
# before the retry went through. A worker stalled that long is now ridden out by waiting.
TASK_FAILED_RETRY = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0)


def _task_failing(err: RPCError) -> bool:
    return (
        err.status is RPCStatusCode.FAILED_PRECONDITION
        and "workflow task in failed state" in str(err).lower()
    )


async def execute_update(
    handle: WorkflowHandle,
    update: Any,
    arg: Any,
    *,
    result_type: type,
    update_id: str | None = None,
    delays: Sequence[float] = TASK_FAILED_RETRY,
) -> Any:
    """`handle.execute_update`, tried again while the workflow's task is in a failed state
    (the server refuses updates then), under one update id so that tries are one update; then
    ZoneBusy."""
    update_id = update_id or str(uuid.uuid4())
    for delay in (*delays, None):
        try:
            return await handle.execute_update(update, arg, id=update_id, result_type=result_type)
        except RPCError as err:
            if not _task_failing(err):
                raise
            if delay is None:
                raise ZoneBusy(
                    f"圏域 {handle.id} のワークフローが応答していません。記録はされていません。しばらくしてから"
                    f"再度お試しください (the zone's workflow is not taking acts just now; nothing was "
                    f"recorded, try again shortly)"
                ) from None
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class ZoneService:
    def __init__(self, client: Client, task_queue: str = "kenflow") -> None:
        self.client = client
        self.task_queue = task_queue

    async def start_zone(self, start: A.StartZone) -> str:
        try:
            validate_start(start)
        except ActRefused as refused:
            raise Refused(str(refused)) from None
        try:
            await self.client.start_workflow(
                ZoneWorkflow.run,
                ZoneInput(start=start),
                id=start.zone_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            raise ZoneExists(
                f"圏域 {start.zone_id} は既に開始されています (zone {start.zone_id} already exists)"
            ) from None
        return start.zone_id

    def handle(self, zone_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(zone_id)

    async def act(self, zone_id: str, act: A.Act, update_id: str | None = None) -> A.ActResult:
        update = A.UPDATE_NAMES[type(act)]  # the zone has one handler for them all
        try:
            result: A.ActResult = await execute_update(
                self.handle(zone_id), update, act, result_type=A.ActResult, update_id=update_id
            )
            return result
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise Refused(cause.message) from None
            raise Refused(str(cause or err)) from None
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND,):
                raise ZoneNotFound(f"圏域 {zone_id} が見つかりません (zone {zone_id} not found)") from None
            if err.status is RPCStatusCode.FAILED_PRECONDITION and "completed" in str(err).lower():
                raise Refused(
                    "この圏域のワークフローは終了しています (the zone's workflow has ended)"
                ) from None
            raise

    async def state(self, zone_id: str) -> ZoneState:
        try:
            return await self.handle(zone_id).query(ZoneWorkflow.state_query, result_type=ZoneState)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise ZoneNotFound(f"圏域 {zone_id} が見つかりません (zone {zone_id} not found)") from None
            raise
