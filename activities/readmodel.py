"""The projection activities: keep the read model (kenflow/db) current after every act.

`project_rows` writes the rows a zone built itself; `project_zone`, the state a zone sent
(zones whose histories predate PROJECTION_ROWS_PATCH replay with it).

Both are async and hand the blocking database work to the projection lane's threads
(activities/lanes.py), so the worker needs no activity_executor for it, its event loop never
waits on the database, and no delivery's work queues ahead of it.
Retries are safe: the write is idempotent and ordered by the state's version
(kenflow/db/projection.py says how).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.group_writer import GroupWriter
from activities.lanes import PROJECTION_THREADS, Lane
from kenflow.db import rows_together
from kenflow.db.projection import project
from models.projection import BASE_MISSING, BaseMissing, ProjectionInput
from models.read_rows import ProjectionRows


class ReadModelActivities:
    """Register `project_rows` and `project_zone` with the worker (worker.build_worker)."""

    def __init__(self, engine: Engine, lane: Lane | None = None, writer: GroupWriter | None = None) -> None:
        self.engine = engine
        self.lane = lane or Lane("projection", PROJECTION_THREADS)
        self.writer = writer or GroupWriter(engine, self.lane, rows_together.together)

    def project(self, inp: ProjectionInput) -> bool:
        """The same write, synchronously (for tests, benchmarks and rebuilds)."""
        return project(self.engine, inp)

    @activity.defn(name="project_zone")
    async def project_zone(self, inp: ProjectionInput) -> None:
        """Run as a local activity by zones (workflows/zone.py, PROJECTION_LOCAL_PATCH); zones
        from before that run it as an activity, which heartbeats every second while the write
        waits (SQLite's lock can take seconds), so the workflow's heartbeat timeout, not the
        30 s start-to-close, notices a dead worker. (A local activity cannot heartbeat: its
        worker keeps the workflow task alive instead.)"""
        write = asyncio.ensure_future(self.lane.run(project, self.engine, inp))
        while not write.done():
            await asyncio.wait({write}, timeout=1.0)
            if not write.done() and not activity.info().is_local:
                activity.heartbeat()
        with _base_missing_is_final():
            write.result()

    @activity.defn(name="project_rows")
    async def project_rows(self, rows: ProjectionRows) -> None:
        """Rows a zone built itself (PROJECTION_ROWS_PATCH), always as a local activity, committed
        together with the other zones' rows waiting at the time (activities/group_writer.py)."""
        with _base_missing_is_final():
            await self.writer.write(rows_together.RowsWrite(rows))


@contextlib.contextmanager
def _base_missing_is_final() -> Iterator[None]:
    """No retry can help a BaseMissing: the workflow resends everything instead."""
    try:
        yield
    except BaseMissing as err:
        raise ApplicationError(str(err), type=BASE_MISSING, non_retryable=True) from None
