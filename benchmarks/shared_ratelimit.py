"""Shared rate limit (Redis) and the two limiter modes, measured at a loopback server.

Part 1 — one budget shared by K processes (``RedisLimiter``, strict mode) against the demo API (which
records arrival times), for K = 1, 4, 8 and budgets of 200 and 2000 requests per 1 s:
  max arrivals in any 1 s window (must be <= N), delivered rate (after the first burst) as a fraction of
  N / T (a lower bound of the fraction of N / (T + latency)), client CPU per request (all K processes,
  after start-up) against K processes with N/K each in-process (``SlotLimiter``, the pool arithmetic)
  measured in the same run, Redis CPU per acquisition (``INFO cpu``; x1000 = ms per 1000), and round trips
  per acquisition.

Part 2 — ``strict`` vs ``bucket`` against a loopback server with 200 ms latency that meters 50 req/s with
a token bucket (burst 50, 50 per second), then with a strict sliding window (50 in any 1 s): delivered
rate (successes / second) and 429s.

Usage: python benchmarks/shared_ratelimit.py [--only shared|modes] [--seconds 4] [--ks 1,4,8]
                                             [--budgets 200,2000]
Needs ``redis-server`` on PATH (part 1). Every process started is stopped; every run is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PERIOD = 1.0


# ---- part 1: K worker processes sharing one key -------------------------------------------------------
async def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_bulk_uploader import Ratelimit, UploadedData
    from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter

    class Count:
        n = 0

        def add_batch(self, items: list[Any]) -> None:
            self.n += len(items)

    import redis.asyncio  # noqa: F401 - imported before the CPU clock starts (a one-off ~0.1-0.3 s)

    rate = Ratelimit(spec["n"], timedelta(seconds=PERIOD))
    limiter: Any = rate
    if spec["redis"]:
        limiter = RedisLimiter(rate, spec["redis"], spec["key"])
    store = Count()
    urls = [f"{spec['base']}/items/{i}" for i in range(spec["first"], spec["first"] + spec["count"])]
    uploader = UploadedData(store, url_maker=urls, rate_limit=limiter, progress_interval=0)
    delay = spec["start_at"] - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    cpu0 = _cpu()
    t0 = time.perf_counter()
    report = await uploader.run()
    elapsed = time.perf_counter() - t0
    return {
        "succeeded": report.succeeded,
        "stored": store.n,
        "cpu": _cpu() - cpu0,
        "elapsed": elapsed,
        "calls": getattr(limiter, "acquire_calls", 0),
        "granted": getattr(limiter, "granted", 0),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run_workers(specs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(spec)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for spec in specs
    ]
    out = []
    try:
        for proc in procs:
            stdout, _ = proc.communicate(timeout=timeout)
            out.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return out


def part_shared(ks: list[int], budgets: list[int], seconds: float) -> list[str]:
    from airflow_provider_bulk_uploader.testing import max_in_window, running_demo_api
    from tests.support.redis import throwaway_redis

    rows = []
    header = (
        "| N/s | K | limiter | requests | max in 1 s | delivered req/s | of N/T | CPU µs/req | "
        "vs in-process | Redis CPU µs/acq | round trips/acq |"
    )
    rows += [header, "|---" * 11 + "|"]
    with throwaway_redis() as redis_server, running_demo_api(record_requests=False) as api:
        for n in budgets:
            total = int(n * seconds) + n
            baseline_cpu: dict[int, float] = {}
            for k, scope in [(k, scope) for k in ks for scope in ("task", "shared")]:
                api.reset()
                per = total // k
                start_at = time.time() + 2.0 + 0.3 * k
                key = f"bench-{n}-{k}-{time.time_ns()}"  # one key shared by the K processes
                specs = [
                    {
                        # task scope: each of the K processes gets N/K in-process (pool arithmetic)
                        "n": n if scope == "shared" else max(1, n // k),
                        "redis": redis_server.url if scope == "shared" else None,
                        "key": key,
                        "start_at": start_at,
                        "base": api.url,
                        "first": p * 10**6,
                        "count": per,
                    }
                    for p in range(k)
                ]
                redis_cpu0 = redis_server.cpu_seconds()
                results = _run_workers(specs, timeout=60 + 4 * seconds)
                redis_cpu = redis_server.cpu_seconds() - redis_cpu0
                arrivals = sorted(api.arrivals)
                done = sum(r["stored"] for r in results)
                assert done == per * k and len(arrivals) == per * k, (done, len(arrivals))
                span = arrivals[-1] - arrivals[0]
                delivered = (len(arrivals) - n) / span if span > 0 else float("nan")
                ideal = n / PERIOD  # a lower bound of the fraction of N / (T + latency)
                cpu_per = sum(r["cpu"] for r in results) / done * 1e6
                if scope == "task":
                    baseline_cpu[k] = cpu_per
                calls = sum(r["calls"] for r in results)
                rows.append(
                    f"| {n} | {k} | {scope} | {done} | {max_in_window(arrivals, PERIOD)} | {delivered:.0f} | "
                    f"{delivered / ideal:.3f} | {cpu_per:.0f} | "
                    f"{cpu_per / baseline_cpu[k]:.2f}x |"
                    + (
                        f" {redis_cpu / max(1, done) * 1e6:.0f} | {calls / max(1, done):.2f} |"
                        if scope == "shared"
                        else " - | - |"
                    )
                )
                print(rows[-1], flush=True)
    return rows


# ---- part 2: strict vs bucket against token-bucket and sliding-window servers ------------------------
class _QuotaServer:
    """aiohttp on 127.0.0.1: every GET /x sleeps ``latency`` and is admitted by ``kind`` ('bucket': 50
    tokens, refilled at 50/s; 'window': at most 50 admitted in any 1 s), else 429 with Retry-After: 1."""

    def __init__(self, kind: str, quota: int = 50, latency: float = 0.2):
        self.kind, self.quota, self.latency = kind, quota, latency
        self.ok = self.rejected = 0
        self.tokens, self.last = float(quota), time.monotonic()
        self.window: collections.deque[float] = collections.deque()

    def admit(self) -> bool:
        now = time.monotonic()
        if self.kind == "bucket":
            self.tokens = min(self.quota, self.tokens + (now - self.last) * self.quota)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) < self.quota:
            self.window.append(now)
            return True
        return False

    async def handle(self, request: Any) -> Any:
        from aiohttp import web

        if not self.admit():
            self.rejected += 1
            return web.json_response({"error": "rate"}, status=429, headers={"Retry-After": "1"})
        await asyncio.sleep(self.latency)
        self.ok += 1
        return web.json_response({"ok": 1})


async def _modes_round(kind: str, mode: str, requests: int) -> dict[str, Any]:
    from aiohttp import web

    from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData

    server = _QuotaServer(kind)
    app = web.Application()
    app.router.add_get("/x", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        urls = [f"http://127.0.0.1:{port}/x?i={i}" for i in range(requests)]
        t0 = time.perf_counter()
        report = await asyncio.wait_for(
            UploadedData(
                ListStore(),
                url_maker=urls,
                rate_limit=Ratelimit(50, timedelta(seconds=1), mode=mode),  # type: ignore[arg-type]
                progress_interval=0,
            ).run(),
            timeout=120,
        )
        elapsed = time.perf_counter() - t0
    finally:
        await runner.cleanup()
    return {
        "succeeded": report.succeeded,
        "failed": report.failed,
        "elapsed": elapsed,
        "429": server.rejected,
    }


def part_modes(requests: int) -> list[str]:
    rows = [
        "| server quota (50/s, 200 ms latency) | mode | delivered req/s | of quota | 429s | failed |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("bucket", "window"):
        for mode in ("strict", "bucket"):
            r = asyncio.run(_modes_round(kind, mode, requests))
            rate = r["succeeded"] / r["elapsed"]
            rows.append(
                f"| {'token bucket' if kind == 'bucket' else 'sliding window'} | {mode} | {rate:.1f} | "
                f"{rate / 50:.3f} | {r['429']} | {r['failed']} |"
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(asyncio.run(_worker(json.loads(sys.argv[2])))), flush=True)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["shared", "modes"])
    parser.add_argument("--seconds", type=float, default=4.0, help="budget-seconds of requests per round")
    parser.add_argument("--ks", default="1,4,8")
    parser.add_argument("--budgets", default="200,2000")
    parser.add_argument("--mode-requests", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    tables = []
    if args.only in (None, "shared"):
        ks = [int(k) for k in args.ks.split(",")]
        budgets = [int(b) for b in args.budgets.split(",")]
        tables.append(part_shared(ks, budgets, args.seconds))
    if args.only in (None, "modes"):
        tables.append(part_modes(args.mode_requests))
    print()
    for table in tables:
        print("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
