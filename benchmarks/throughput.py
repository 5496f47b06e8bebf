"""Throughput: the engine against raw HTTP client baselines, side by side in one run.

Starts its own fast loopback server (raw asyncio.Protocol, keep-alive, fixed small JSON body,
pinned to the last CPU), then runs every baseline for the same N GETs in a fresh subprocess
pinned to CPU 0, so wall time, CPU and peak RSS are per baseline:

  aiohttp        raw aiohttp pool: C workers, one ClientSession, json.loads of each body
  httpx          raw httpx.AsyncClient pool: C workers, one client with C connections
  requests       sync requests.Session loop (what Airflow's HttpOperator does)
  engine         UploadedData(counting store, GetAPICall, generator of URLs, Ratelimit(10**6),
                 default retry policy, max_concurrency=C): everything armed
  engine-httpx   the same with http_backend="httpx"
  (--extra adds aiohttp+tenacity: the raw pool with AsyncRetrying around every request)
  (--metrics adds the cost of the Airflow metrics, issue 25, as an A/B pair in one run:
   engine+airflow  the engine row in a process that imported Airflow, Stats configured, no observer
   engine+metrics  the same with the operator's StatsObserver: Airflow's StatsD client sending to a
                   loopback UDP socket; the CPU ratio of the two is the metrics' share of a request)

Usage:
  python benchmarks/throughput.py [--requests 20000] [--concurrency 64] [--repeat 1]
                                  [--only aiohttp,engine] [--extra] [--metrics] [--loop asyncio|uvloop]
                                  [--round-timeout 180] [--profile [cprofile|pyinstrument]]

Every loop is bounded: the URL generator stops yielding at the round's deadline, and the parent
kills a child that outlives the deadline by 30 s. A truncated round is flagged in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (
    CLIENT_CPU,
    REPO,
    CountingStore,
    cpu_now,
    engine_available,
    fast_server,
    peak_rss_mb,
    pin,
)

BASELINES = ["aiohttp", "httpx", "requests", "engine", "engine-httpx"]
EXTRA = ["aiohttp+tenacity"]
METRICS = ["engine+airflow", "engine+metrics"]
ENGINE = {"engine", "engine-httpx", *METRICS}
TARGETS = {("engine", "aiohttp"): 0.9, ("engine", "requests"): 5.0}
#: CPU targets: the metrics may cost at most 3 % of a request's CPU (issue 25)
CPU_TARGETS = {("engine+metrics", "engine+airflow"): 0.97}


# ---- the clients (run in the child) -----------------------------------------------------------
def bounded_urls(base: str, n: int, deadline: float) -> Iterator[str]:
    """``n`` URLs, lazily; stops early once ``time.perf_counter()`` passes ``deadline``."""
    for i in range(n):
        if (i & 63) == 0 and time.perf_counter() > deadline:
            return
        yield f"{base}/items/{i}"


async def _pool(worker: Callable[[], Coroutine[Any, Any, None]], concurrency: int) -> None:
    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_aiohttp(urls: Iterator[str], concurrency: int, tenacity_wrap: bool = False) -> tuple[int, int]:
    import aiohttp

    ok = failed = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def fetch(url: str) -> Any:
            async with session.get(url) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                return json.loads(body)

        async def worker() -> None:
            nonlocal ok, failed
            for url in urls:
                try:
                    if tenacity_wrap:
                        from tenacity import AsyncRetrying, stop_after_attempt, wait_exponential_jitter

                        async for attempt in AsyncRetrying(
                            stop=stop_after_attempt(5), wait=wait_exponential_jitter(0.1, 5), reraise=True
                        ):
                            with attempt:
                                await fetch(url)
                    else:
                        await fetch(url)
                    ok += 1
                except Exception:
                    failed += 1

        await _pool(worker, concurrency)
    return ok, failed


async def run_httpx(urls: Iterator[str], concurrency: int) -> tuple[int, int]:
    import httpx

    ok = failed = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal ok, failed
            for url in urls:
                try:
                    resp = await client.get(url)
                    resp.raise_for_status()
                    resp.json()
                    ok += 1
                except Exception:
                    failed += 1

        await _pool(worker, concurrency)
    return ok, failed


def run_requests(urls: Iterator[str]) -> tuple[int, int]:
    import requests

    ok = failed = 0
    with requests.Session() as session:
        for url in urls:
            try:
                resp = session.get(url, timeout=30)
                resp.raise_for_status()
                resp.json()
                ok += 1
            except Exception:
                failed += 1
    return ok, failed


async def run_engine(
    urls: Iterator[str], concurrency: int, backend: str, observer: Any = None
) -> tuple[int, int]:
    from airflow_provider_bulk_uploader import GetAPICall, Ratelimit, UploadedData

    store = CountingStore()
    uploader = UploadedData(
        store,
        GetAPICall,
        url_maker=urls,
        rate_limit=Ratelimit(10**6),
        max_concurrency=concurrency,
        http_backend=backend,
        observer=observer,
    )
    report = await uploader.run()
    if store.count != report.succeeded:
        raise SystemExit(f"store saw {store.count} items but the report says {report.succeeded}")
    return report.succeeded, report.failed


def child(args: argparse.Namespace) -> None:
    """Run one baseline and print one JSON line with its measurements."""
    pinned = pin(CLIENT_CPU)
    if args.loop == "uvloop":
        import uvloop

        uvloop.install()
    # import everything the client needs before the clock starts (same for every baseline)
    import aiohttp  # noqa: F401
    import httpx  # noqa: F401
    import requests  # noqa: F401
    import tenacity  # noqa: F401

    if args.child in ENGINE:
        import airflow_provider_bulk_uploader  # noqa: F401
    observer = _airflow_metrics(args.child) if args.child in METRICS else None

    name, n, conc = args.child, args.requests, args.concurrency
    rss_before = peak_rss_mb()
    cpu0, t0 = cpu_now(), time.perf_counter()
    urls = bounded_urls(args.base, n, t0 + args.round_timeout)
    profiler: Any = None
    if args.profile:
        profiler = _start_profiler(args.profile)

    if name == "aiohttp":
        ok, failed = asyncio.run(run_aiohttp(urls, conc))
    elif name == "aiohttp+tenacity":
        ok, failed = asyncio.run(run_aiohttp(urls, conc, tenacity_wrap=True))
    elif name == "httpx":
        ok, failed = asyncio.run(run_httpx(urls, conc))
    elif name == "requests":
        ok, failed = run_requests(urls)
    elif name == "engine":
        ok, failed = asyncio.run(run_engine(urls, conc, "aiohttp"))
    elif name == "engine-httpx":
        ok, failed = asyncio.run(run_engine(urls, conc, "httpx"))
    elif name in METRICS:
        ok, failed = asyncio.run(run_engine(urls, conc, "aiohttp", observer))
    else:
        raise SystemExit(f"unknown baseline {name!r}")

    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    if profiler is not None:
        _report_profile(args.profile, profiler, ok + failed, cpu)
    done = ok + failed
    extra: dict[str, Any] = {}
    if name == "engine+metrics":  # after the timed section: what the engine's calls to it cost, alone
        extra["observer_us"] = _observer_cost(observer)
    print(
        json.dumps(
            {
                **extra,
                "name": name,
                "ok": ok,
                "failed": failed,
                "wall": wall,
                "cpu": cpu,
                "rss_mb": peak_rss_mb(),
                "rss_before_mb": rss_before,
                "truncated": done < n,
                "pinned": pinned,
            }
        ),
        flush=True,
    )


def _airflow_metrics(name: str) -> Any:
    """Import Airflow with StatsD metrics on (to a UDP socket of this process nobody reads: each send is a
    real ``sendto``) and Stats initialized the way a task process does; for ``engine+metrics`` the
    operator's observer. Done before the clock starts."""
    import socket

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    _SINKS.append(sink)
    os.environ.update(
        AIRFLOW__METRICS__STATSD_ON="True",
        AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
        AIRFLOW__METRICS__STATSD_PORT=str(sink.getsockname()[1]),
        AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED="True",  # the tags travel: the costlier path
    )
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=False)
    from airflow_provider_bulk_uploader.utils.metrics import StatsObserver, metric_tags

    stats.incr("bulk_fetch.benchmark_warmup")  # the backend is built on first use: not in the timed part
    if name != "engine+metrics":
        return None
    return StatsObserver(metric_tags(conn_id="bench", dag_id="throughput", task_id="engine"))


_SINKS: list[Any] = []


def _observer_cost(observer: Any, n: int = 200_000, flush_every: int = 5_000) -> float:
    """CPU microseconds per request of what the engine does for an observer — the three clock readings and
    the ``on_wait`` + ``on_request`` calls of ``_attempts.Attempts.attempt`` — on the real observer (Airflow's
    StatsD client behind it), with a flush every ``flush_every`` requests (at 1 000 req/s a flush is every
    5 000 requests: this is that rate), less the same loop without the observer. Median of 5."""
    clock = time.perf_counter
    null = type("Null", (), {"on_wait": lambda self, s: None, "on_request": lambda self, m, c, s: None})()

    def loop(obs: Any, flush: Any) -> float:
        start = time.process_time()
        for i in range(n):
            waiting = clock()
            sent = clock()
            obs.on_wait(sent - waiting)
            obs.on_request("GET", "2xx", clock() - sent)
            if i % flush_every == 0:
                flush()
        return time.process_time() - start

    costs = []
    for _ in range(5):
        base = loop(null, lambda: None)
        costs.append((loop(observer, observer.flush) - base) / n * 1e6)
    return float(statistics.median(costs))


# ---- profiling (child, --profile) -------------------------------------------------------------
def _start_profiler(kind: str) -> Any:
    if kind == "pyinstrument":
        from pyinstrument import Profiler

        p = Profiler(interval=0.0005, async_mode="disabled")
        p.start()
        return p
    import cProfile

    p = cProfile.Profile()
    p.enable()
    return p


def _report_profile(kind: str, profiler: Any, requests_done: int, cpu: float) -> None:
    out = sys.stderr
    n = max(requests_done, 1)
    print(
        f"\n== profile ({kind}): {n} requests, {cpu / n * 1e6:.0f} CPU us/request under the profiler ==",
        file=out,
    )
    if kind == "pyinstrument":
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False), file=out)
        return
    import pstats

    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, ncalls, _short(filename), line, func))
    total = sum(r[0] for r in rows)

    def table(title: str, key: int, limit: int, only_engine: bool = False) -> None:
        print(f"\n-- {title} --", file=out)
        print(f"{'self us/req':>11} {'cum us/req':>10} {'calls/req':>9}  function", file=out)
        shown = 0
        for tot, cum, ncalls, fname, line, func in sorted(rows, key=lambda r: r[key], reverse=True):
            if only_engine and "airflow_provider_bulk_uploader" not in fname:
                continue
            print(
                f"{tot / n * 1e6:11.1f} {cum / n * 1e6:10.1f} {ncalls / n:9.2f}  {fname}:{line}({func})",
                file=out,
            )
            shown += 1
            if shown >= limit:
                break

    print(
        f"(profiled self time total {total / n * 1e6:.0f} us/request; cProfile inflates small calls)",
        file=out,
    )
    table("top self time", 0, 30)
    table("top cumulative time", 1, 25)
    table("engine functions by cumulative time", 1, 20, only_engine=True)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3", str(REPO) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# ---- the parent -------------------------------------------------------------------------------
def run_child(name: str, base: str, args: argparse.Namespace, profile: str | None = None) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--base",
        base,
        "--requests",
        str(args.requests),
        "--concurrency",
        str(args.concurrency),
        "--round-timeout",
        str(args.round_timeout),
        "--loop",
        args.loop,
    ]
    if profile:
        cmd += ["--profile", profile]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.round_timeout + 30, cwd=REPO, env=env
        )
    except subprocess.TimeoutExpired:
        return {"name": name, "error": f"killed after {args.round_timeout + 30:.0f} s"}
    if profile:
        sys.stdout.write(proc.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"name": name, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def fmt_row(r: dict[str, Any], n: int) -> str:
    if "error" in r:
        return f"{r['name']:<17} ERROR {r['error']}"
    done = r["ok"] + r["failed"]
    rps = done / r["wall"] if r["wall"] else 0.0
    cpu_us = r["cpu"] / done * 1e6 if done else 0.0
    flag = " TRUNCATED" if r["truncated"] else ""
    client_pct = 100 * r["cpu"] / max(r["wall"], 1e-9)
    return (
        f"{r['name']:<17} {r['ok']:>7} {r['failed']:>6} {r['wall']:>7.2f} {rps:>9.0f} {cpu_us:>8.0f}"
        f" {client_pct:>6.0f}% {r['rss_mb']:>8.1f} {r['server_cpu_pct']:>6.0f}%{flag}"
    )


HEADER = (
    f"{'baseline':<17} {'ok':>7} {'failed':>6} {'wall s':>7} {'req/s':>9} {'CPU us/r':>8}"
    f" {'client':>7} {'RSS MB':>8} {'server':>7}"
)
LEGEND = (
    "(CPU us/r: client user+sys CPU per request; client/server: CPU share of their core during the timed"
    " section -- an async client well below 100% was starved by other processes or waited on the server)"
)


def rps(r: dict[str, Any]) -> float | None:
    if "error" in r or not r["wall"]:
        return None
    return float((r["ok"] + r["failed"]) / r["wall"])


def requests_per_cpu_second(r: dict[str, Any]) -> float | None:
    if "error" in r or not r["cpu"]:
        return None
    return float((r["ok"] + r["failed"]) / r["cpu"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--repeat", type=int, default=1, help="rounds; the order alternates between rounds")
    p.add_argument(
        "--only", default=None, help="comma-separated subset of: " + ",".join(BASELINES + EXTRA + METRICS)
    )
    p.add_argument("--extra", action="store_true", help="also run " + ",".join(EXTRA))
    p.add_argument("--metrics", action="store_true", help="also run " + ",".join(METRICS))
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    p.add_argument("--round-timeout", type=float, default=180.0, help="hard limit per baseline, seconds")
    p.add_argument(
        "--profile",
        nargs="?",
        const="cprofile",
        choices=["cprofile", "pyinstrument"],
        help="profile one round (of --profile-of) instead of benchmarking",
    )
    p.add_argument(
        "--profile-of",
        default="engine",
        choices=BASELINES + EXTRA + METRICS,
        help="the baseline --profile runs (default engine; aiohttp gives a differential)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.requests < 1 or args.concurrency < 1 or args.repeat < 1:
        p.error("--requests, --concurrency and --repeat must be >= 1")
    if args.child:
        child(args)
        return 0

    names = args.only.split(",") if args.only else BASELINES + (EXTRA if args.extra else [])
    names += [m for m in METRICS if args.metrics and m not in names]
    unknown = set(names) - set(BASELINES + EXTRA + METRICS)
    if unknown:
        p.error(f"unknown baselines: {sorted(unknown)}")
    missing = engine_available() if (set(names) & ENGINE or args.profile_of in ENGINE) else None
    if missing:
        print(f"engine not importable yet ({missing}); skipping engine baselines")
        names = [nm for nm in names if nm not in ENGINE]

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"# {args.requests} GETs per baseline, concurrency {args.concurrency}, loop {args.loop}, "
        f"{cpus} CPUs (client CPU {CLIENT_CPU}, server CPU {cpus - 1 if cpus else '?'}), "
        f"Python {sys.version.split()[0]}"
    )

    with fast_server() as server:
        if args.profile:
            if missing and args.profile_of in ENGINE:
                return 1
            r = run_child(args.profile_of, server.base, args, profile=args.profile)
            if "error" in r:
                print(r["error"])
                return 1
            return 0

        rounds: list[dict[str, dict[str, Any]]] = []
        for rnd in range(args.repeat):
            order = names if rnd % 2 == 0 else list(reversed(names))
            print(f"\n## round {rnd + 1}/{args.repeat}\n{HEADER}", flush=True)
            if rnd == 0:
                print(LEGEND, flush=True)
            results: dict[str, dict[str, Any]] = {}
            for name in order:
                s0 = server.cpu_seconds()
                r = run_child(name, server.base, args)
                if "error" not in r:  # the server is idle outside the child's timed window
                    r["server_cpu_pct"] = 100 * (server.cpu_seconds() - s0) / max(r["wall"], 1e-9)
                results[name] = r
                print(fmt_row(r, args.requests), flush=True)
            rounds.append(results)

    status = 0
    costs = [
        rd["engine+metrics"]["observer_us"] for rd in rounds if "observer_us" in rd.get("engine+metrics", {})
    ]
    if costs:
        per_request = [
            rd["engine+airflow"]["cpu"] / (rd["engine+airflow"]["ok"] + rd["engine+airflow"]["failed"]) * 1e6
            for rd in rounds
            if "error" not in rd.get("engine+airflow", {"error": 1})
        ]
        cost, engine_us = statistics.median(costs), statistics.median(per_request) if per_request else 0.0
        share = 100 * cost / engine_us if engine_us else float("nan")
        verdict = "PASS" if share <= 3.0 else "FAIL"
        print(
            f"\n## the metrics' own cost (observer calls alone, median of {len(costs)} rounds)\n"
            f"{cost:.2f} CPU us per request = {share:.2f} % of the engine's {engine_us:.0f} CPU us per "
            f"request (engine+airflow): target <= 3 %: {verdict}"
        )
        if share > 3.0:
            status = 1
    print(f"\n## summary (median round by req/s, upper median for even counts)\n{HEADER}")
    for name in names:
        runs = [rd[name] for rd in rounds if "error" not in rd[name]]
        if not runs:
            print(fmt_row(rounds[-1][name], args.requests))
            continue
        print(fmt_row(sorted(runs, key=lambda r: rps(r) or 0)[len(runs) // 2], args.requests))

    print("\n## ratios (same round; median over rounds)")
    print(
        "   wall: req/s of A / req/s of B;  CPU: requests per CPU-second of A / of B (less noise-sensitive)"
    )
    pairs = [
        ("engine", "aiohttp"), ("engine", "requests"), ("engine-httpx", "aiohttp"),
        ("engine-httpx", "httpx"), ("aiohttp", "requests"), ("aiohttp+tenacity", "aiohttp"),
        ("engine+metrics", "engine+airflow"), ("engine+airflow", "engine"),
    ]  # fmt: skip
    for a, b in pairs:
        if a not in names or b not in names:
            continue
        for label, metric in (("wall", rps), ("CPU", requests_per_cpu_second)):
            ratios = [ma / mb for rd in rounds if (ma := metric(rd[a])) and (mb := metric(rd[b]))]
            if not ratios:
                continue
            med = statistics.median(ratios)
            target = TARGETS.get((a, b)) if label == "wall" else CPU_TARGETS.get((a, b))
            verdict = (
                "" if target is None else f"  target >= {target:g}: " + ("PASS" if med >= target else "FAIL")
            )
            if target is not None and med < target:
                status = 1
            each = ", ".join(f"{x:.2f}" for x in ratios)
            print(f"{a + ' / ' + b:<26} {label:>4} {med:6.2f}x  (rounds: {each}){verdict}")
    if any(
        rd[nm].get("failed") or "error" in rd[nm] or rd[nm].get("truncated") for rd in rounds for nm in names
    ):
        print("\nWARNING: some rounds failed requests, errored or were truncated (see the tables)")
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
