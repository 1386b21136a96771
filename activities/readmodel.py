"""The `project_zone` activity: keeps the read model (kenflow/db) current after every act.

It is async and hands the blocking database work to a thread (asyncio.to_thread), so the
worker needs no activity_executor for it and its event loop never waits on the database.
Retries are safe: the write is idempotent and ordered by the state's version
(kenflow/db/projection.py says how).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from kenflow.db.projection import project
from models.projection import BASE_MISSING, BaseMissing, ProjectionInput


class ReadModelActivities:
    """Register with the worker as `activities=[ReadModelActivities(engine).project_zone, ...]`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        write = asyncio.ensure_future(asyncio.to_thread(project, self.engine, inp))
        while not write.done():
            await asyncio.wait({write}, timeout=1.0)
            if not write.done() and not activity.info().is_local:
                activity.heartbeat()
        try:
            write.result()
        except BaseMissing as err:  # no retry can help: the workflow resends the whole state
            raise ApplicationError(str(err), type=BASE_MISSING, non_retryable=True) from None
