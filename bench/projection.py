"""The projection alone: every act of the national programme's zones, run through the pure
rules and written to a fresh read model the way the zone workflow sends it, with no Temporal.

    python bench/projection.py [--zones 140] [--years 10] [--url sqlite:///F.db] [--profile F.prof]

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
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scenario import _noon, build, skipping_dates  # noqa: E402
from kenflow.db.engine import make_engine  # noqa: E402
from kenflow.db.migrate import upgrade  # noqa: E402
from kenflow.db.projection import project  # noqa: E402
from models.lifecycle import initial_state, perform  # noqa: E402
from models.projection import SentSections  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zones", type=int, default=140)
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--kpis", type=int, default=3)
    ap.add_argument("--url", help="URL of an empty database (default: a new SQLite file)")
    ap.add_argument("--profile", help="write cProfile stats here")
    args = ap.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='kenflow-proj-')}/readmodel.db"
    upgrade(url)
    engine = make_engine(url)
    dates = skipping_dates(date(2026, 4, 10), args.years)
    zones = build(args.zones, args.years, args.kpis, dates, quiet=True)
    days = [dates.formation] + [on for _, on in dates.years]
    # Every projection input, built first so only the writes are timed.
    per_phase: list[list] = [[] for _ in days]
    for z in zones:
        state, first = initial_state(z.start, _noon(dates.formation))
        state.notices.extend(first)
        sent, seq = SentSections(), 0
        for p, (phase, today) in enumerate(zip(z.phases, days, strict=True)):
            if p > 0:
                sent.forget()  # each fiscal year is a new run: its first projection is whole
            for act in phase:
                outcome = perform(state, act, _noon(today), today)
                state.notices.extend(outcome.notices)
                inp, after = sent.delta(state.model_copy(deep=True), state.timeline[seq:])
                seq = len(state.timeline)
                per_phase[p].append(inp)
                sent.sent(after)
                state.notices = []  # delivered soon after, as in a running zone
    prof = cProfile.Profile() if args.profile else None
    figures, total, count = [], 0.0, 0
    cpu0 = time.process_time()
    for p, items in enumerate(per_phase):
        times = []
        if prof:
            prof.enable()
        for inp in items:
            t0 = time.perf_counter()
            project(engine, inp)
            times.append(time.perf_counter() - t0)
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
                "projections": count,
                "mean_us": round(total / count * 1e6),
                "cpu_us": round(cpu / count * 1e6),
                "phases": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
