"""Measuring helpers: a worker in a subprocess with its RSS sampled, latency percentiles and
a pool of concurrent clients."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil

from kenflow.up import _die_with_parent  # the worker dies with the bench, even on SIGKILL

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


class WorkerProcess:
    """`python -m bench.worker ...`, started, waited for, sampled every 100 ms, stopped."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc: subprocess.Popen[str] | None = None
        self.peak_rss = 0
        self.gc_seconds: float | None = None  # its collector's CPU time, once it has stopped
        self.gc_full = 0
        self._sampler: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WorkerProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [sys.executable, "-m", "bench.worker", *self.args]
        self.proc = await asyncio.to_thread(
            subprocess.Popen,
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
        )
        assert self.proc.stdout is not None
        line = await asyncio.to_thread(self.proc.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError(f"worker did not start: {line!r} (exit {self.proc.poll()})")
        self._sampler = asyncio.create_task(self._sample())
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def _sample(self) -> None:
        proc = psutil.Process(self.pid)
        while True:
            try:
                self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            except psutil.Error:
                return
            await asyncio.sleep(0.1)

    async def __aexit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return
            assert self.proc.stdout is not None
            for line in (await asyncio.to_thread(self.proc.stdout.read)).splitlines():
                if line.startswith("gc "):
                    _, seconds, full = line.split()
                    self.gc_seconds, self.gc_full = float(seconds), int(full)

    def gc_ms_per(self, updates: int) -> float | None:
        return None if self.gc_seconds is None else round(self.gc_seconds * 1000 / max(updates, 1), 2)

    @property
    def peak_rss_mb(self) -> float:
        return round(self.peak_rss / 2**20, 1)


async def quiesce(threshold: float = 10.0, within: float = 180.0) -> float:
    """Wait until every process this bench started (servers, workers) has been nearly idle
    (< threshold % CPU) for half a second, so one side's timers, continue-as-new and
    deliveries never run on the other side's clock. Returns the seconds waited."""
    me = psutil.Process()
    start = time.perf_counter()
    while time.perf_counter() - start < within:
        procs = [p for p in me.children(recursive=True) if p.name() != "py-spy"]
        for p in procs:
            try:
                p.cpu_percent(None)
            except psutil.Error:
                pass
        await asyncio.sleep(0.5)
        busy = 0.0
        for p in procs:
            try:
                busy = max(busy, p.cpu_percent(None))
            except psutil.Error:
                pass
        if busy < threshold:
            break
    return time.perf_counter() - start


class CpuMeter:
    """CPU seconds spent by the bench client, the server(s) and each worker while one side
    runs, so a slower side can be told apart: worker code, server work, or client work."""

    def __init__(self, workers: dict[str, int]) -> None:
        self.workers = workers  # side name -> worker pid
        self.spent: dict[str, dict[str, float]] = {}

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def _snapshot(self) -> dict[str, float]:
        me = psutil.Process()
        out = {"client": self._cpu(me), "server": 0.0}
        for child in me.children(recursive=True):
            if child.pid in self.workers.values():
                out[next(k for k, v in self.workers.items() if v == child.pid)] = self._cpu(child)
            elif child.name() != "py-spy":
                out["server"] += self._cpu(child)
        return out

    async def measure(self, side: str, run: Awaitable[T]) -> T:
        before = self._snapshot()
        result = await run
        after = self._snapshot()
        into = self.spent.setdefault(side, {})
        for k in ("client", "server", side):
            into[k if k != side else "worker"] = (
                into.get(k if k != side else "worker", 0.0) + after.get(k, 0) - before.get(k, 0)
            )
        return result

    def per_update_ms(self, side: str, updates: int) -> dict[str, float]:
        return {k: round(v * 1000 / max(updates, 1), 2) for k, v in self.spent.get(side, {}).items()}


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[k], 1)


@dataclass
class Timings:
    """Update latencies in ms, errors, and the seconds spent in measured phases; beside each
    latency, the kind of update and when it ended (perf_counter), to tell what makes a tail."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kinds: list[str] = field(default_factory=list)
    ended: list[float] = field(default_factory=list)

    async def timed(self, call: Awaitable[T], kind: str = "") -> T | None:
        t = time.perf_counter()
        try:
            result = await call
        except Exception as err:  # noqa: BLE001 — counted and reported, the run goes on
            self.errors.append(f"{type(err).__name__}: {err}"[:300])
            return None
        end = time.perf_counter()
        self.latencies.append((end - t) * 1000)
        self.kinds.append(kind)
        self.ended.append(end)
        return result

    def tail(self, since: int, began: float) -> str:
        """The updates from index `since` slower than their p99: how many of each kind, and
        when they ended (seconds after `began`), so a stall shows as one cluster."""
        here = self.latencies[since:]
        if not here:
            return ""
        p99 = percentile(here, 99)
        # percentile() rounds to 0.1 ms, possibly up past the slowest itself: compare rounded
        slow = [i for i in range(since, len(self.latencies)) if round(self.latencies[i], 1) >= p99]
        kinds = Counter(self.kinds[i] or "?" for i in slow).most_common(4)
        at = sorted(round(self.ended[i] - began, 1) for i in slow)
        return f"{len(slow)} at or above p99: {dict(kinds)}, ended at {at[0]}–{at[-1]} s (median {at[len(at) // 2]} s)"

    @property
    def per_s(self) -> float:
        return round(len(self.latencies) / self.seconds, 1) if self.seconds else 0.0


async def pool(items: Sequence[T], clients: int, each: Callable[[T], Awaitable[None]]) -> float:
    """Run `each` over items with at most `clients` at once; return the wall seconds."""
    queue: asyncio.Queue[T] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def client() -> None:
        while not queue.empty():
            await each(queue.get_nowait())

    t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(min(clients, len(items)))))
    return time.perf_counter() - t
