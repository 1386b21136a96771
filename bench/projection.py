"""The projection alone: every act of the national programme's zones, run through the pure
rules and written to a fresh read model the way the zone workflow sends it, with no Temporal.

    python bench/projection.py [--zones 140] [--years 10] [--url sqlite:///F.db] [--profile F.prof]
                               [--sends rows|state] [--batch N]

`--sends rows` (the default) writes what zones send since PROJECTION_ROWS_PATCH: the rows they
built themselves (models/read_rows.py), each run's first projection whole. `--sends state` writes
the delta states older histories still send. `--batch N` writes N projections per transaction,
as the worker's group commit does under load (activities/group_writer.py).

The national bench shows the projection as the largest share of what kenflow's worker spends
beyond bare Temporal; this isolates it so a change to kenflow/db/projection.py is measured in
seconds, not a ten-minute run. It prints the mean and p99 wall time per projection, phase by
phase, and ends with one JSON object (with `cpu_us`, this process's CPU time per projection,
which drifts less than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from itertools import zip_longest
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Connection  # noqa: E402

from bench.scenario import _noon, build, skipping_dates  # noqa: E402
from kenflow.db import rows_together  # noqa: E402
from kenflow.db.engine import make_engine, write_together  # noqa: E402
from kenflow.db.migrate import upgrade  # noqa: E402
from kenflow.db.projection import write_projection, write_rows  # noqa: E402
from models.lifecycle import initial_state, perform  # noqa: E402
from models.projection import BaseMissing, ProjectionInput, SentSections  # noqa: E402
from models.read_rows import ProjectionRows, Row, notice_statuses, projection_rows  # noqa: E402
from models.zone import ZoneState  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", type=int, default=140)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--kpis", type=int, default=3)
    ap.add_argument("--url", help="URL of an empty database (default: a new SQLite file)")
    ap.add_argument("--profile", help="write cProfile stats here")
    ap.add_argument("--sends", choices=["rows", "state"], default="rows", help="what zones send")
    ap.add_argument("--batch", type=int, default=1, help="projections per transaction")
    ap.add_argument(
        "--one-by-one",
        action="store_true",
        help="write a batch's rows zone by zone, row by row (before rows_together, item 21)",
    )
    args = ap.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='kenflow-proj-')}/readmodel.db"
    upgrade(url)
    engine = make_engine(url)
    dates = skipping_dates(date(2026, 4, 10), args.years)
    zones = build(args.zones, args.years, args.kpis, dates, quiet=True)
    days = [dates.formation] + [on for _, on in dates.years]
    # Every projection input, built first so only the writes are timed.
    per_zone: list[list[list]] = [[] for _ in days]
    for z in zones:
        for p in range(len(days)):
            per_zone[p].append([])
        state, first = initial_state(z.start, _noon(dates.formation))
        state.notices.extend(first)
        sender = RowsSender() if args.sends == "rows" else StateSender()
        for p, (phase, today) in enumerate(zip(z.phases, days, strict=True)):
            if p > 0:
                sender.new_run()  # each fiscal year is a new run: its first projection is whole
            elif args.sends == "rows":
                per_zone[p][-1].append(sender.send(state))  # the start's (delta states never sent it)
            for act in phase:
                outcome = perform(state, act, _noon(today), today)
                state.notices.extend(outcome.notices)
                per_zone[p][-1].append(sender.send(state))
                state.notices = []  # delivered soon after, as in a running zone
    # Zones take turns, as in the worker, where a zone's next projection waits for its last:
    # a batch holds different zones' rows.
    per_phase = [[x for turn in zip_longest(*phase) for x in turn if x is not None] for phase in per_zone]
    together = rows_together.together if args.sends == "rows" and not args.one_by_one else None
    prof = cProfile.Profile() if args.profile else None
    figures, total, count = [], 0.0, 0
    cpu0 = time.process_time()
    for p, items in enumerate(per_phase):
        times = []
        if prof:
            prof.enable()
        write = write_rows if args.sends == "rows" else write_projection
        for i in range(0, len(items), args.batch):
            batch = items[i : i + args.batch]
            t0 = time.perf_counter()
            writes = [rows_together.RowsWrite(x) if together else bound(write, x) for x in batch]
            for outcome in write_together(engine, writes, BaseMissing, together):
                if isinstance(outcome, Exception):
                    raise outcome
            times.extend([(time.perf_counter() - t0) / len(batch)] * len(batch))
        if prof:
            prof.disable()
        times.sort()
        mean = sum(times) / len(times)
        total += sum(times)
        count += len(times)
        figures.append(
            {
                "phase": p,
                "n": len(times),
                "mean_us": round(mean * 1e6),
                "p99_us": round(times[int(len(times) * 0.99)] * 1e6),
            }
        )
        print(json.dumps(figures[-1]), file=sys.stderr)
    cpu = time.process_time() - cpu0
    if prof:
        prof.dump_stats(args.profile)
    print(
        json.dumps(
            {
                "url": url.split("://")[0],
                "sends": args.sends,
                "batch": args.batch,
                "together": together is not None,
                "projections": count,
                "mean_us": round(total / count * 1e6),
                "cpu_us": round(cpu / count * 1e6),
                "phases": figures,
            }
        )
    )


def bound(write: Callable[[Connection, Any], bool], item: object) -> Callable[[Connection], bool]:
    return lambda conn: write(conn, item)


class RowsSender:
    """What a zone sends since PROJECTION_ROWS_PATCH (workflows/zone.py `_project_rows`)."""

    def __init__(self) -> None:
        self.seq = 0
        self.new_run()

    def new_run(self) -> None:
        self.digests: dict[str, str] | None = None
        self.rows: dict[str, list[Row]] | None = None
        self.statuses: dict[str, str] | None = None

    def send(self, state: ZoneState) -> ProjectionRows:
        statuses = notice_statuses(state)
        rows = projection_rows(state, state.timeline[self.seq :], self.digests, self.statuses, self.rows)
        self.seq, self.digests, self.statuses = len(state.timeline), rows.digests, statuses
        self.rows = (self.rows or {}) | rows.children
        return rows


class StateSender:
    """What older histories send (PROJECTION_DELTA_PATCH): the state, less the kept sections."""

    def __init__(self) -> None:
        self.sent, self.seq = SentSections(), 0

    def new_run(self) -> None:
        self.sent.forget()

    def send(self, state: ZoneState) -> ProjectionInput:
        inp, after = self.sent.delta(state.model_copy(deep=True), state.timeline[self.seq :])
        self.seq = len(state.timeline)
        self.sent.sent(after)
        return inp


if __name__ == "__main__":
    main()
