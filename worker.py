"""The kenflow worker: runs zone workflows and their activities on one task queue.

Run it embedded by `kenflow up`, or alone with `kenflow worker` against an existing Temporal
cluster (TEMPORAL_ADDRESS); several workers may share the task queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities.delivery import DeliveryActivities
from activities.readmodel import ReadModelActivities
from kenflow.settings import Settings
from workflows.zone import ZoneWorkflow


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    task_queue: str | None = None,
    executor: concurrent.futures.Executor | None = None,
) -> Worker:
    readmodel = ReadModelActivities(engine)
    delivery = DeliveryActivities(engine, settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[ZoneWorkflow],
        activities=[readmodel.project_zone, delivery.deliver_notice],
        activity_executor=executor or concurrent.futures.ThreadPoolExecutor(max_workers=64),
        max_concurrent_activities=64,
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    from kenflow.db.engine import engine_for
    from kenflow.db.migrate import upgrade
    from kenflow.temporal import connect, register_search_attributes

    upgrade(settings.db_url)
    client = await connect(settings)
    await register_search_attributes(client)
    worker = build_worker(client, settings, engine_for(settings.db_url))
    if stop is None:
        # Standalone (`kenflow worker`): SIGTERM from a service manager finishes the tasks in
        # hand and leaves the queue to the other workers, instead of dropping them mid-task.
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    from kenflow.settings import get_settings

    asyncio.run(run_worker(get_settings()))
