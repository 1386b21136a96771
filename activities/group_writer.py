"""Group commit for the projections: the rows of every act waiting at that moment go to the
read model in one transaction, on one thread, one transaction after another.

Each act's projection used to take the read model's writer lock (kenflow/db/engine.py
`writing`) for a transaction of its own, from whichever thread ran it. A transaction needs a
fraction of a millisecond of CPU, but the thread holding the lock also needs the GIL, which the
workflows' event loop and the other threads hold in turns of up to 5 ms; so the lock was held
for 7 ms (median) and acts waited 40 ms (median) in line for it, at 100 acts a second in the
national bench (bench/README item 15). Written together, the projections that queued during
one transaction share the next: the lock is taken once per batch, not once per act, and each
act still returns only once its own rows are committed. (Delivery records keep transactions of
their own: in the same batches, acts waited for them, and formation was slower.)

A zone whose read model lacks what the zone last sent (BaseMissing) fails alone: the writer
raises that before writing anything of its own. Any other error fails the batch, whose writes
are then made one by one (kenflow/db/engine.py `write_together`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine

from activities.lanes import Lane
from kenflow.db.engine import Together, Write, write_together
from models.projection import BaseMissing

MAX_BATCH = 64  # rows of a ten-year zone's act are ~25 KB: a batch stays a few MB at most


class GroupWriter:
    """`await write(fn)` runs `fn(connection)` in the next shared transaction and returns what it
    returned once that is committed (or raises what it raised)."""

    def __init__(self, engine: Engine, lane: Lane, together: Together | None = None) -> None:
        self.engine = engine
        self.lane = lane
        self.together = together  # makes a batch at once where it can (write_together)
        self._waiting: list[tuple[Write, asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, write: Write) -> Any:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((write, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        """One batch at a time until none waits; what arrives meanwhile forms the next."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                batch = [(write, done) for write, done in batch if not done.done()]  # cancelled: skip
                if not batch:
                    continue
                try:
                    outcomes = await self.lane.run(
                        write_together, self.engine, [w for w, _ in batch], BaseMissing, self.together
                    )
                except Exception as err:  # noqa: BLE001 — each waiting activity raises it (and retries)
                    outcomes = [err] * len(batch)
                except BaseException:  # the worker is stopping: nobody waits for an answer
                    for _, done in batch + self._waiting:
                        done.cancel()
                    self._waiting = []
                    raise
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue
                    if isinstance(outcome, Exception):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
        finally:
            self._flushing = None
