"""50 clients against a running `kenflow up` for 60 s: acts and zone pages over HTTP.

    kenflow up &                      # or any deployment
    python bench/api_load.py [URL] [--token T] [--clients 50] [--seconds 60] [--zones 50]

Without --token (or KENFLOW_TOKEN) it runs `kenflow token issue --role ministry`, which
needs the same environment (KENFLOW_DATA_DIR, ...) as the running `kenflow up`. It starts
--zones zones (POST /api/zones); each client (its own HTTP client and connection, as each
clerk has a browser) reads one zone to warm up, all at once and not timed (`warmup_*`); then
each client loops for --seconds: one act (an agreement's draft, then
both councils' resolutions, through POST /api/zones/{id}/agreements[/{code}/resolutions])
for every three reads of a zone page (GET /api/zones/{id}). Targets: 0 errors, read p99 <
200 ms. The last line printed is one JSON object; `read_app_*` are the same reads as kenflow
timed them (Server-Timing), so the difference is time queued outside the app;
`client_loop_lag_*` is how late this bench's own event loop ran, and
`read_queued_in_client_p99_ms` how long reads waited in it before their first byte was sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import ssl
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import scenario as S  # noqa: E402
from bench.measure import percentile  # noqa: E402
from models.codes import check_digit  # noqa: E402
from models.fiscal import current_jst_date  # noqa: E402

TOWNS_PER_ZONE = 100  # 300 acts each: more than a minute can use


def issue_token() -> str:
    out = subprocess.run(
        ["kenflow", "token", "issue", "--role", "ministry", "--label", "api_load"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


class Zone:
    """One zone's act script: draft the agreement with town n, then both resolutions."""

    def __init__(self, index: int, today: date) -> None:
        z = S.make_zone(index, S.Dates(today - timedelta(days=60), []), kpis=0, quiet=True)
        self.start = z.start.model_dump(mode="json", exclude={"started_by"})
        self.zone_id, self.hub = z.zone_id, z.hub
        pref = self.hub.code[:2]
        self.towns = [f"{pref}{400 + n:03d}" for n in range(TOWNS_PER_ZONE)]
        self.on = (today - timedelta(days=10)).isoformat()
        self.step = 0

    def next_act(self) -> tuple[str, dict] | None:
        n, k = divmod(self.step, 3)
        if n >= len(self.towns):
            return None
        self.step += 1
        five = self.towns[n]
        code = f"{five}{check_digit(five)}"
        base = f"/api/zones/{self.zone_id}/agreements"
        if k == 0:
            town = {
                "code": code,
                "name": f"町{five}",
                "kind": "town",
                "population": 8000,
                "day_night_ratio": 0.8,
            }
            initiatives = [i.model_dump(mode="json") for i in S.INITIATIVES]
            return base, {"neighbour": town, "initiatives": initiatives, "drafted_on": self.on}
        council = self.hub.code if k == 1 else code
        return f"{base}/{code}/resolutions", {
            "resolved_on": self.on,
            "number": f"第{n}-{k}号",
            "municipality_code": council,
        }


def app_ms(resp: httpx.Response) -> float | None:
    """kenflow's own time on the request (its Server-Timing header), to tell time spent in the
    app from time queued in the network, the OS or this client."""
    for part in resp.headers.get("server-timing", "").split(","):
        name, _, dur = part.strip().partition(";dur=")
        if name == "app" and dur:
            return float(dur)
    return None


class Load:
    def __init__(self) -> None:
        self.acts: list[float] = []
        self.reads: list[float] = []
        self.app: dict[str, list[float]] = {"GET": [], "POST": []}
        self.queued: list[float] = []  # per read: ms inside this client before a byte was sent
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []

    async def call(
        self, http: httpx.AsyncClient, into: list[float], method: str, path: str, body: dict | None = None
    ) -> None:
        t = time.perf_counter()
        sent: list[float] = []

        async def trace(event: str, _info: dict) -> None:
            if not sent and event.endswith(".started") and "response" not in event:
                sent.append((time.perf_counter() - t) * 1000)  # a connect or the request's headers

        try:
            resp = await http.request(method, path, json=body, extensions={"trace": trace})
            ok = resp.status_code < 300
            label = f"{method} {resp.status_code}"
            detail = resp.text[:200]
        except httpx.HTTPError as err:
            ok, label, detail = False, f"{method} {type(err).__name__}", str(err)[:200]
        if ok:
            into.append((time.perf_counter() - t) * 1000)
            served = app_ms(resp)
            if served is not None:
                self.app[method].append(served)
            if method == "GET" and sent:
                self.queued.append(sent[0])
        else:
            self.errors[label] += 1
            if len(self.samples) < 5:
                self.samples.append(f"{label} {path}: {detail}")


async def main(args: argparse.Namespace) -> dict:
    token = args.token or os.environ.get("KENFLOW_TOKEN") or issue_token()
    headers = {"Authorization": f"Bearer {token}"}
    today = current_jst_date()
    first = random.Random().randrange(0, 3400 - args.zones)  # fresh zones on a used deployment
    zones = [Zone(first + i, today) for i in range(args.zones)]
    load = Load()

    tls = ssl.create_default_context()  # loaded once: each client loading its own took ~40 ms

    def browser() -> httpx.AsyncClient:
        """One clerk's HTTP client, with its own connection as a browser has. (One client
        shared by all 50 queued reads inside httpcore's pool for up to seconds before they
        were sent: that was most of the read p99 this bench reported before session 7.)"""
        return httpx.AsyncClient(base_url=args.url, headers=headers, timeout=60, verify=tls)

    async with contextlib.AsyncExitStack() as open_clients:
        http = await open_clients.enter_async_context(browser())
        setup: list[float] = []
        for z in zones:
            await load.call(http, setup, "POST", "/api/zones", z.start)
        print(f"{len(setup)} zones started (p50 {percentile(setup, 50)} ms)", file=sys.stderr)
        # made before the clock starts
        browsers = [await open_clients.enter_async_context(browser()) for _ in range(args.clients)]
        # Warm-up, not timed: each clerk opens its connection and reads one of its zones, all at
        # once. Timed, that one burst (50 connects and first reads in the same instant) was the
        # whole read p99 (233 ms with it, 83 ms without, in one run); it is reported apart.
        warm: list[float] = []
        await asyncio.gather(
            *(
                load.call(browsers[n], warm, "GET", f"/api/zones/{zones[n % len(zones)].zone_id}")
                for n in range(args.clients)
            )
        )
        load.app["GET"].clear()
        load.queued.clear()
        deadline = time.perf_counter() + args.seconds

        async def client(n: int) -> None:
            mine = zones[n % len(zones) :: args.clients] or zones
            rng = random.Random(n)
            own = browsers[n]
            while time.perf_counter() < deadline:
                z = rng.choice(mine)
                act = z.next_act() if rng.random() < 0.25 else None
                if act is not None:
                    await load.call(own, load.acts, "POST", *act)
                else:
                    await load.call(own, load.reads, "GET", f"/api/zones/{z.zone_id}")

        lags: list[float] = []

        async def own_loop() -> None:
            """How late this client's own event loop wakes: a read's time includes it."""
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append((time.perf_counter() - began - 0.01) * 1000)

        await asyncio.gather(own_loop(), *(client(n) for n in range(args.clients)))
    for line in load.samples:
        print(line, file=sys.stderr)
    return {
        "url": args.url,
        "clients": args.clients,
        "seconds": args.seconds,
        "acts": len(load.acts),
        "reads": len(load.reads),
        "errors": sum(load.errors.values()),
        "errors_by_kind": dict(load.errors),
        "acts_per_s": round(len(load.acts) / args.seconds, 1),
        "reads_per_s": round(len(load.reads) / args.seconds, 1),
        "act_p50_ms": percentile(load.acts, 50),
        "act_p99_ms": percentile(load.acts, 99),
        "read_p50_ms": percentile(load.reads, 50),
        "read_p99_ms": percentile(load.reads, 99),
        # None against a server that sends no Server-Timing (kenflow before it did)
        "read_app_p50_ms": percentile(load.app["GET"], 50) if load.app["GET"] else None,
        "read_app_p99_ms": percentile(load.app["GET"], 99) if load.app["GET"] else None,
        # the bench client's own lateness: a read p99 far above kenflow's own and above this
        # was spent between the two processes (bench/README item 11)
        "client_loop_lag_p99_ms": percentile(lags, 99),
        # how long reads waited inside this client before their first byte went out
        "read_queued_in_client_p99_ms": percentile(load.queued, 99) if load.queued else None,
        "client_loop_lag_max_ms": round(max(lags), 1) if lags else None,
        "reads_over_1s": sum(1 for ms in load.reads if ms > 1000),
        "warmup_reads": len(warm),
        "warmup_read_max_ms": round(max(warm), 1) if warm else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--token")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--zones", type=int, default=50)
    print(json.dumps(asyncio.run(main(parser.parse_args())), ensure_ascii=False), flush=True)
