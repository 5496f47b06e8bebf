"""Memory: peak RSS of the engine streaming 10k vs 100k URLs to a JsonlFileStore.

Each size runs in a fresh subprocess (pinned to CPU 0) against the benchmarks' fast loopback
server, with everything armed (GetAPICall, default retry policy, Ratelimit(10**6),
max_concurrency=64) and the URLs coming from a generator. The child reports ru_maxrss after its
imports and at the end, and checks that the file holds exactly one line per URL.

  python benchmarks/memory.py [--sizes 10000,100000] [--concurrency 64] [--gzip] [--no-rate-limit]
                              [--round-timeout 300]

Target (issue 2): peak RSS at 100k within 10% of peak RSS at 10k.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CLIENT_CPU, REPO, engine_available, fast_server, peak_rss_mb, pin

TARGET = 1.10


def urls(base: str, n: int, deadline: float) -> Iterator[str]:
    for i in range(n):
        if (i & 63) == 0 and time.perf_counter() > deadline:
            return
        yield f"{base}/items/{i}"


def child(args: argparse.Namespace) -> None:
    pin(CLIENT_CPU)
    from airflow_provider_bulk_uploader import GetAPICall, JsonlFileStore, Ratelimit, UploadedData

    rss_imports = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        path = Path(tmp) / ("out.jsonl.gz" if args.gzip else "out.jsonl")
        store = JsonlFileStore(path)
        t0 = time.perf_counter()
        uploader = UploadedData(
            store,
            GetAPICall,
            url_maker=urls(args.base, args.size, t0 + args.round_timeout),
            rate_limit=None if args.no_rate_limit else Ratelimit(10**6),
            max_concurrency=args.concurrency,
        )
        report = asyncio.run(uploader.run())
        wall = time.perf_counter() - t0
        rss_peak = peak_rss_mb()
        opener: Any = gzip.open if args.gzip else open
        with opener(path, "rb") as fh:
            lines = sum(1 for _ in fh)
        size_mb = path.stat().st_size / 1e6
    print(
        json.dumps(
            {
                "size": args.size,
                "succeeded": report.succeeded,
                "failed": report.failed,
                "lines": lines,
                "wall": wall,
                "rss_imports_mb": rss_imports,
                "rss_peak_mb": rss_peak,
                "file_mb": size_mb,
            }
        ),
        flush=True,
    )


def run_child(size: int, base: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", "--base", base, "--size", str(size),
        "--concurrency", str(args.concurrency), "--round-timeout", str(args.round_timeout),
    ]  # fmt: skip
    if args.gzip:
        cmd.append("--gzip")
    if args.no_rate_limit:
        cmd.append("--no-rate-limit")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.round_timeout + 30, cwd=REPO, env=env
        )
    except subprocess.TimeoutExpired:
        return {"size": size, "error": f"killed after {args.round_timeout + 30:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"size": size, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="10000,100000", help="comma-separated URL counts (first is the base)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--gzip", action="store_true", help="write .jsonl.gz")
    p.add_argument("--no-rate-limit", action="store_true", help="run without Ratelimit(10**6) (diagnosis)")
    p.add_argument("--round-timeout", type=float, default=300.0, help="hard limit per size, seconds")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0

    missing = engine_available()
    if missing:
        print(f"engine not importable yet ({missing})")
        return 1
    sizes = [int(s) for s in args.sizes.split(",")]
    limit = "no rate limit" if args.no_rate_limit else "Ratelimit(10**6)"
    print(f"# engine -> JsonlFileStore{' (gzip)' if args.gzip else ''}, concurrency {args.concurrency}, "
          f"{limit}, default retries, Python {sys.version.split()[0]}")  # fmt: skip
    print(f"{'URLs':>8} {'ok':>8} {'failed':>6} {'lines':>8} {'wall s':>7} {'req/s':>7} "
          f"{'RSS after imports':>17} {'peak RSS':>9} {'growth':>7} {'file MB':>8}")  # fmt: skip
    results = []
    status = 0
    with fast_server() as server:
        for size in sizes:
            r = run_child(size, server.base, args)
            results.append(r)
            if "error" in r:
                print(f"{size:>8} ERROR {r['error']}")
                status = 1
                continue
            complete = r["succeeded"] == size and r["lines"] == size
            status |= 0 if complete else 1
            print(
                f"{size:>8} {r['succeeded']:>8} {r['failed']:>6} {r['lines']:>8} {r['wall']:>7.1f}"
                f" {size / r['wall']:>7.0f} {r['rss_imports_mb']:>14.1f} MB {r['rss_peak_mb']:>6.1f} MB"
                f" {r['rss_peak_mb'] - r['rss_imports_mb']:>4.1f} MB {r['file_mb']:>8.1f}"
                + ("" if complete else "  INCOMPLETE"),
                flush=True,
            )
    ok = [r for r in results if "error" not in r]
    if len(ok) >= 2:
        base, last = ok[0], ok[-1]
        ratio = last["rss_peak_mb"] / base["rss_peak_mb"]
        growth_base = base["rss_peak_mb"] - base["rss_imports_mb"]
        growth_last = last["rss_peak_mb"] - last["rss_imports_mb"]
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        print(f"\npeak RSS {last['size']} / {base['size']}: {ratio:.3f}  target <= {TARGET:.2f}: {verdict}")
        print(f"growth over imports: {growth_base:.1f} MB -> {growth_last:.1f} MB")
        status |= 0 if ratio <= TARGET else 1
    return status


if __name__ == "__main__":
    sys.exit(main())
