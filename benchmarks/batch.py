"""Batch lookups: 100 000 ids against a batch endpoint at a 100 req/s quota and 50 ms latency, one id per
request vs 100 ids per request (issue 23).

The demo API (``python -m airflow_provider_bulk_uploader.testing.demo_api --rate-limit 100 --batch-max-ids
100``) runs in its own process on 127.0.0.1 and enforces the quota itself (a 429 beyond 100 admitted requests
in any second); every request is ``POST /batch/items?latency_ms=50`` with ``{"ids": [...]}``. The client is
the engine with ``Ratelimit(100 per 1 s)`` and ``max_concurrency`` 16, each case in a fresh child process
(CPU from ``getrusage`` of the child over the timed section).

At 1 id per request the quota alone makes 100 000 ids take ~1 000 s, so that case is measured on a prefix
(``--prefix``, default 2 000 ids: ~20 s) and its wall time and request count are **extrapolated** linearly to
the whole set (the quota makes it linear: the column says so). 100 ids per request runs the whole set.

Figures per case: ids, requests seen by the server, wall s, ids/s, CPU µs per id and per request, and the
busiest 1-s window at the server (must be <= 100). Exit non-zero when an id is missing or duplicated, a
request failed, or the quota was exceeded.

  python benchmarks/batch.py [--ids 100000] [--prefix 2000] [--rate 100] [--latency-ms 50]
                             [--concurrency 16] [--round-timeout 180]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import REPO, cpu_now, demo_api, engine_available

MAX_IDS = 100


def admin(base: str, path: str, method: str = "GET") -> Any:
    request = urllib.request.Request(base + path, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class IdCheckingStore:
    """Counts the records of each batch body and checks every id arrives exactly once (1 byte an id)."""

    def __init__(self, n: int) -> None:
        self.seen = bytearray(n)
        self.records = self.duplicates = 0

    def add(self, item: Any) -> None:
        self.add_batch([item])

    def add_batch(self, items: list[Any]) -> None:
        seen = self.seen
        for body in items:
            for record in body["data"]:
                self.records += 1
                self.duplicates += seen[record["id"]]
                seen[record["id"]] = 1

    def saved_data(self) -> int:
        return self.records


def child(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from airflow_provider_bulk_uploader import Ratelimit, Request, UploadedData

    n, per = args.count, args.per_request
    url = f"{args.base}/batch/items?latency_ms={args.latency_ms}"
    deadline = time.perf_counter() + args.round_timeout

    def requests() -> Iterator[Request]:
        for first in range(0, n, per):
            if time.perf_counter() > deadline:
                return
            ids = list(range(first, min(first + per, n)))
            yield Request(url, "POST", json={"ids": ids}, ids=ids)

    store = IdCheckingStore(n)
    uploader = UploadedData(
        store,
        url_maker=requests(),
        rate_limit=Ratelimit(args.rate, timedelta(seconds=1)),
        max_concurrency=args.concurrency,
        progress_interval=0,
    )
    cpu0, t0 = cpu_now(), time.perf_counter()
    report = asyncio.run(uploader.run())
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    print(
        json.dumps(
            {
                "ids": n,
                "per_request": per,
                "wall": wall,
                "cpu": cpu,
                "requests": report.attempts,
                "failed": report.failed,
                "records": store.records,
                "distinct": sum(store.seen),
                "duplicates": store.duplicates,
            }
        ),
        flush=True,
    )


def run_case(base: str, count: int, per: int, args: argparse.Namespace) -> dict[str, Any]:
    admin(base, "/_reset", "POST")
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", "--base", base, "--count", str(count),
        "--per-request", str(per), "--rate", str(args.rate), "--latency-ms", str(args.latency_ms),
        "--concurrency", str(args.concurrency), "--round-timeout", str(args.round_timeout),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.round_timeout + 30, cwd=REPO, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {args.round_timeout + 30:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail}"}
    result = json.loads(lines[-1])
    stats = admin(base, "/_stats?window=1")
    result["server_requests"] = stats["by_path"].get("/batch/items", 0)
    result["server_429"] = stats["rate_limited"]
    result["max_in_1s"] = stats["max_in_window"]["count"]
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ids", type=int, default=100_000)
    p.add_argument("--prefix", type=int, default=2_000, help="ids measured at 1 id per request")
    p.add_argument("--rate", type=int, default=100, help="quota, requests per second (server and client)")
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--round-timeout", type=float, default=180.0)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    p.add_argument("--per-request", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    problem = engine_available()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    print(
        f"# {args.ids} ids, POST /batch/items at {args.latency_ms} ms latency, quota {args.rate} req/s held "
        f"by the server (429 above it) and by the client (Ratelimit), concurrency {args.concurrency}"
    )
    print(
        f"{'ids/request':>11} {'ids run':>8} {'requests':>9} {'wall s':>8} {'ids/s':>8} "
        f"{'CPU us/id':>9} {'CPU us/req':>10} {'max/1s':>6} {'100k ids: wall s':>17} {'requests':>9}"
    )
    failures = 0
    results = {}
    with demo_api("--rate-limit", str(args.rate), "--batch-max-ids", str(MAX_IDS)) as base:
        for per, count in ((MAX_IDS, args.ids), (1, min(args.prefix, args.ids))):
            r = run_case(base, count, per, args)
            if "error" in r:
                print(f"{per:>11} {count:>8} ERROR {r['error']}")
                failures += 1
                continue
            ok = (
                r["failed"] == 0
                and r["duplicates"] == 0
                and r["distinct"] == count
                and r["max_in_1s"] <= args.rate
                and r["server_429"] == 0
            )
            failures += not ok
            scale = args.ids / count
            whole = f"{r['wall'] * scale:.0f}" + (" (extrap.)" if scale > 1 else "")
            print(
                f"{per:>11} {count:>8} {r['server_requests']:>9} {r['wall']:>8.1f} {count / r['wall']:>8.0f} "
                f"{r['cpu'] / count * 1e6:>9.0f} {r['cpu'] / r['requests'] * 1e6:>10.0f} {r['max_in_1s']:>6} "
                f"{whole:>17} {round(r['server_requests'] * scale):>9}" + ("" if ok else "  << CHECK FAILED")
            )
            results[per] = (r, scale)
    if MAX_IDS in results and 1 in results:
        (big, _), (small, scale) = results[MAX_IDS], results[1]
        print(
            f"# 100 ids/request vs 1: {small['wall'] * scale / big['wall']:.0f}x less wall time for "
            f"{args.ids} ids, "
            f"{small['server_requests'] * scale / big['server_requests']:.0f}x fewer requests, "
            f"{(small['cpu'] / small['ids']) / (big['cpu'] / big['ids']):.1f}x less CPU per id"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
