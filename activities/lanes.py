"""Thread lanes: the activities' blocking work runs on threads of its own kind, never queued
behind another kind's.

The projection a clerk's act waits for and the deliveries that act set off both hand blocking
work (SQL, outbox files) to threads. On `asyncio.to_thread` they shared the event loop's
default executor (six threads on two cores), where a burst of copies (the national bench's
formation phase sends 730 batches) queued its look-ups, files and records ahead of the
projections, and a dozen threads took turns at the GIL with the loop that runs the workflows.
Here deliveries have one thread, and projections threads of their own. Measured alone, this
moved the national bench by less than its noise (bench/README item 15); it matters for the
projections' group commit (activities/group_writer.py), whose one flush at a time must never
wait in line behind delivery work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

PROJECTION_THREADS = 4  # SQLite takes one writer at a time; PostgreSQL writes zones side by side
DELIVERY_THREADS = 1  # copies are not waited for: one thread keeps them off the acts' path


class Lane:
    """A named thread pool for one kind of blocking work; threads start when first needed."""

    def __init__(self, name: str, threads: int) -> None:
        self.executor = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=f"kenflow-{name}")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on the lane, with the caller's context (as asyncio.to_thread)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
