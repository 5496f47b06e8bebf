"""Pagination: parallel page fan-out vs page after page, peak RSS of a long paginated stream, and CPU per page
against hand-written aiohttp.

Parts 1 and 2 run against the demo API (``python -m airflow_provider_bulk_uploader.testing.demo_api``) in its
own process on 127.0.0.1, endpoint ``/pages/offset`` (offset/limit, total in the body).

1. Speed: 200 pages x 100 records at 50 ms server latency (``latency_ms=50``), concurrency 16, no rate
   limit, for three places a total can be: the number of records in the body (``/pages/offset``,
   ``{"type": "offset", "limit": 100}``), the number of records in the body of a page-number endpoint
   (``/pages/page_number?total=records``, ``meta.total``, as Django REST framework's ``count``:
   ``total_records_path``), and the number of records in an ``X-Total-Count`` header
   (``/pages/offset?total=header``, as json-server: ``total_path="header:X-Total-Count"``). *Fan-out* reads
   the total on the first page and requests the other 199 pages in parallel. *Page after page* (the
   baseline, same run, same endpoint): the paginator is told not to look for a total (``total_path=None``),
   so each page is requested after the previous one (until the short or empty page). Reports the speed-up of
   each (target >= 8x) and records/s.
2. Memory: 10k vs 1M records (100 a page: 100 vs 10 000 pages) through fan-out pagination into a
   ``JsonlFileStore``, each size in a fresh child process; peak RSS (``ru_maxrss``) ratio, target <= 1.1.
   Each child checks the file holds every record exactly once. This part runs first: a child's ru_maxrss
   starts at its parent's RSS at fork time, so the parent must still be small (VmHWM is the cross-check).

3. CPU: the engine against hand-written aiohttp on the benchmarks' fast loopback server (raw asyncio,
   pinned to the last CPU; ``/offset`` and ``/cursor`` pages of 100 records), each client in a child pinned to
   CPU 0, at 0 ms and at 50 ms latency. Baselines: *aiohttp gather* (first page, then every other offset at
   once under a semaphore of C) and *aiohttp page loop* (cursor after cursor); the engine runs
   ``{"type": "offset"}`` / ``{"type": "cursor"}`` at concurrency C into a store that counts records. Reports
   records/s, CPU µs per page (client user+sys) and the engine/aiohttp ratio of pages per CPU-second (target
   >= 0.9 at 0 ms; level at 50 ms).

  python benchmarks/pagination.py [--pages 200] [--latency-ms 50] [--concurrency 16]
                                  [--sizes 10000,1000000] [--skip-memory] [--skip-cpu] [--only-cpu]
                                  [--cpu-pages 2000] [--repeat 3] [--round-timeout 600]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import CLIENT_CPU, REPO, cpu_now, demo_api, engine_available, fast_server, peak_rss_mb, pin

SPEEDUP_TARGET = 8.0
RSS_TARGET = 1.10
PAGE_SIZE = 100


#: endpoint (query after the common part), fan-out paginator, page-after-page paginator
SCENARIOS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "offset, total in the body": (
        "/pages/offset?limit={size}",
        {"type": "offset", "limit": PAGE_SIZE},
        {"type": "offset", "limit": PAGE_SIZE, "total_path": None},
    ),
    "page number, record total in the body": (
        "/pages/page_number?size={size}&total=records",
        {"type": "page_number", "base_page": 1, "total_path": None, "total_records_path": "meta.total"},
        {"type": "page_number", "base_page": 1, "total_path": None},
    ),
    "offset, total in X-Total-Count": (
        "/pages/offset?limit={size}&total=header",
        {"type": "offset", "limit": PAGE_SIZE, "total_path": "header:X-Total-Count"},
        {"type": "offset", "limit": PAGE_SIZE, "total_path": None},
    ),
}


async def fetch(url: str, concurrency: int, paginator: Any = None) -> tuple[float, Any, int]:
    from airflow_provider_bulk_uploader import ListStore, UploadedData

    store = ListStore()
    uploader = UploadedData(
        store,
        url_maker=[url],
        paginator=paginator or {"type": "offset", "limit": PAGE_SIZE},
        record_path="data",
        max_concurrency=concurrency,
        progress_interval=0,
    )
    t0 = time.perf_counter()
    report = await uploader.run()
    wall = time.perf_counter() - t0
    ids = [r["id"] for body in store.saved_data() for r in body["data"]]
    distinct = len(set(ids)) if len(ids) == len(set(ids)) else -1
    return wall, report, distinct


def speed(base: str, args: argparse.Namespace) -> int:
    n = args.pages * PAGE_SIZE
    print(
        f"# {args.pages} pages x {PAGE_SIZE} records, {args.latency_ms} ms server latency, "
        f"concurrency {args.concurrency}, no rate limit, aiohttp backend"
    )
    print(
        f"{'where the total is':<40} {'mode':<15} {'pages':>6} {'requests':>8} {'records':>8} {'wall s':>7} "
        f"{'records/s':>10}"
    )
    status = 0
    speedups = {}
    for name, (path, fan_out, sequential) in SCENARIOS.items():
        url = f"{base}{path.format(size=PAGE_SIZE)}&n={n}&latency_ms={args.latency_ms}"
        rows = {}
        for mode, paginator in (("page after page", sequential), ("fan-out", fan_out)):
            wall, report, distinct = asyncio.run(fetch(url, args.concurrency, paginator))
            ok = distinct == n and report.failed == 0
            rows[mode] = wall
            print(
                f"{name:<40} {mode:<15} {report.pages:>6} {report.attempts:>8} {report.records:>8} "
                f"{wall:>7.2f} {report.records / wall:>10.0f}" + ("" if ok else "  INCOMPLETE"),
                flush=True,
            )
            if not ok:
                return 1
        speedups[name] = rows["page after page"] / rows["fan-out"]
    print()
    for name, speedup in speedups.items():
        verdict = "PASS" if speedup >= SPEEDUP_TARGET else "FAIL"
        print(
            f"speed-up fan-out vs page after page, {name}: {speedup:.1f}x  "
            f"target >= {SPEEDUP_TARGET:g}x: {verdict}"
        )
        status |= 0 if speedup >= SPEEDUP_TARGET else 1
    print()
    return status


def child(args: argparse.Namespace) -> None:
    from airflow_provider_bulk_uploader import JsonlFileStore, UploadedData

    rss_imports = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench-pagination-") as tmp:
        path = Path(tmp) / "out.jsonl"
        store = JsonlFileStore(path)
        t0 = time.perf_counter()
        uploader = UploadedData(
            store,
            url_maker=[f"{args.base}/pages/offset?n={args.size}&limit={PAGE_SIZE}"],
            paginator={"type": "offset", "limit": PAGE_SIZE},
            record_path="data",
            max_concurrency=args.concurrency,
            progress_interval=0,
        )
        report = asyncio.run(uploader.run())
        wall = time.perf_counter() - t0
        rss_peak = peak_rss_mb()
        hwm = vm_hwm_mb()
        seen = bytearray(args.size)  # 1 byte a record: checks "exactly once" without a set of 1M ints
        duplicates = records = 0
        with open(path, "rb") as fh:
            for line in fh:
                for record in json.loads(line)["data"]:
                    records += 1
                    duplicates += seen[record["id"]]
                    seen[record["id"]] = 1
    print(
        json.dumps(
            {
                "size": args.size,
                "pages": report.pages,
                "failed": report.failed,
                "records": records,
                "distinct": sum(seen),
                "duplicates": duplicates,
                "wall": wall,
                "rss_imports_mb": rss_imports,
                "rss_peak_mb": rss_peak,
                "vm_hwm_mb": hwm,
            }
        ),
        flush=True,
    )


def vm_hwm_mb() -> float:
    """Peak RSS of this process image from /proc (VmHWM: reset at exec, unlike ru_maxrss); 0.0 elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_child(size: int, base: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--child", "--base", base, "--size", str(size),
        "--concurrency", str(args.concurrency),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.round_timeout, cwd=REPO, env=env
        )
    except subprocess.TimeoutExpired:
        return {"size": size, "error": f"killed after {args.round_timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"size": size, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


def memory(base: str, args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"# records through offset fan-out ({PAGE_SIZE} a page) into JsonlFileStore, concurrency "
          f"{args.concurrency}, one child process per size")  # fmt: skip
    print(f"{'records':>8} {'pages':>6} {'on disk':>8} {'dupes':>5} {'wall s':>7} {'records/s':>9} "
          f"{'RSS after imports':>17} {'peak RSS':>9} {'VmHWM':>8}")  # fmt: skip
    results, status = [], 0
    for size in sizes:
        r = run_child(size, base, args)
        if "error" in r:
            print(f"{size:>8} ERROR {r['error']}")
            status = 1
            continue
        results.append(r)
        ok = r["distinct"] == size and r["duplicates"] == 0 and r["failed"] == 0
        status |= 0 if ok else 1
        print(
            f"{size:>8} {r['pages']:>6} {r['records']:>8} {r['duplicates']:>5} {r['wall']:>7.1f} "
            f"{size / r['wall']:>9.0f} {r['rss_imports_mb']:>14.1f} MB {r['rss_peak_mb']:>6.1f} MB"
            f" {r['vm_hwm_mb']:>5.1f} MB" + ("" if ok else "  INCOMPLETE"),
            flush=True,
        )
    if len(results) >= 2:
        ratio = results[-1]["rss_peak_mb"] / results[0]["rss_peak_mb"]
        verdict = "PASS" if ratio <= RSS_TARGET else "FAIL"
        print(
            f"\npeak RSS (ru_maxrss) {results[-1]['size']} / {results[0]['size']} records: {ratio:.3f}  "
            f"target <= {RSS_TARGET:.2f}: {verdict}"
        )
        if results[0]["vm_hwm_mb"]:
            print(f"cross-check VmHWM: {results[-1]['vm_hwm_mb'] / results[0]['vm_hwm_mb']:.3f}\n")
        status |= 0 if ratio <= RSS_TARGET else 1
    return status


# ---- part 3: CPU per page, engine vs hand-written aiohttp --------------------------------------------------
CPU_CLIENTS = {"offset": ("aiohttp gather", "engine"), "cursor": ("aiohttp page loop", "engine")}
CPU_TARGET = 0.9


class RecordCounter:
    """A store that counts the records of each page body and keeps nothing."""

    def __init__(self) -> None:
        self.records = 0

    def add(self, item: Any) -> None:  # pragma: no cover - add_batch is used
        self.records += len(item["data"])

    def add_batch(self, items: list[Any]) -> None:
        self.records += sum(len(body["data"]) for body in items)

    def saved_data(self) -> int:
        return self.records


async def _aiohttp_gather(base: str, n: int, ms: int, concurrency: int) -> int:
    import aiohttp

    loads = json.loads
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def page(offset: int) -> int:
            async with session.get(f"{base}/offset?offset={offset}&limit={PAGE_SIZE}&n={n}&ms={ms}") as r:
                return len(loads(await r.read())["data"])

        first_url = f"{base}/offset?offset=0&limit={PAGE_SIZE}&n={n}&ms={ms}"
        async with session.get(first_url) as r:
            body = loads(await r.read())
        records, total = len(body["data"]), body["total"]
        gate = asyncio.Semaphore(concurrency)

        async def bounded(offset: int) -> int:
            async with gate:
                return await page(offset)

        counts = await asyncio.gather(*(bounded(o) for o in range(PAGE_SIZE, total, PAGE_SIZE)))
        return records + sum(counts)


async def _aiohttp_loop(base: str, n: int, ms: int) -> int:
    import aiohttp

    loads = json.loads
    records, cursor = 0, ""
    async with aiohttp.ClientSession() as session:
        while True:
            url = f"{base}/cursor?limit={PAGE_SIZE}&n={n}&ms={ms}" + (f"&cursor={cursor}" if cursor else "")
            async with session.get(url) as r:
                body = loads(await r.read())
            records += len(body["data"])
            cursor = body["next_cursor"]
            if not cursor or not body["data"]:
                return records


async def _engine(base: str, style: str, n: int, ms: int, concurrency: int) -> int:
    from airflow_provider_bulk_uploader import UploadedData

    store = RecordCounter()
    paginator: dict[str, Any] = (
        {"type": "offset", "limit": PAGE_SIZE}
        if style == "offset"
        else {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}
    )
    query = f"n={n}&ms={ms}" + ("" if style == "offset" else f"&limit={PAGE_SIZE}")
    report = await UploadedData(
        store,
        url_maker=[f"{base}/{style}?{query}"],
        paginator=paginator,
        record_path="data",
        max_concurrency=concurrency,
        progress_interval=0,
    ).run()
    assert report.failed == 0, report
    return store.records


def cpu_child(args: argparse.Namespace) -> None:
    """One client, one style, one latency: prints a JSON line with records, wall and CPU seconds."""
    pin(CLIENT_CPU)
    n, ms = args.size, args.ms
    if args.client == "engine":  # imports outside the timed section, like aiohttp's below
        import airflow_provider_bulk_uploader
        import airflow_provider_bulk_uploader.engine.transport  # noqa: F401 - imported on a run's first use
    import aiohttp  # noqa: F401

    cpu0, t0 = cpu_now(), time.perf_counter()
    if args.client == "engine":
        records = asyncio.run(_engine(args.base, args.style, n, ms, args.concurrency))
    elif args.style == "offset":
        records = asyncio.run(_aiohttp_gather(args.base, n, ms, args.concurrency))
    else:
        records = asyncio.run(_aiohttp_loop(args.base, n, ms))
    wall, cpu = time.perf_counter() - t0, cpu_now() - cpu0
    print(json.dumps({"records": records, "wall": wall, "cpu": cpu}), flush=True)


def cpu_round(
    base: str, style: str, client: str, pages: int, ms: int, args: argparse.Namespace
) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--cpu-child", "--base", base, "--style", style,
        "--client", "engine" if client == "engine" else "aiohttp", "--size", str(pages * PAGE_SIZE),
        "--ms", str(ms), "--concurrency", str(args.concurrency),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.round_timeout, cwd=REPO, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{client} {style} {ms} ms: exit {proc.returncode}: {tail}")
    result = json.loads(lines[-1])
    result["pages"] = pages
    return result


def cpu(args: argparse.Namespace) -> int:
    """Part 3 (see the module docstring): medians over ``--repeat`` rounds, the order alternating."""
    import statistics

    print(
        f"# CPU per page: engine vs hand-written aiohttp, {PAGE_SIZE} records a page, concurrency "
        f"{args.concurrency}, client pinned to CPU {CLIENT_CPU}, fast server on the last CPU, "
        f"{args.repeat} round(s), medians"
    )
    print(f"{'style':<7} {'latency':>7} {'client':<18} {'pages':>6} {'records/s':>10} {'CPU us/page':>11} "
          f"{'engine/aiohttp (pages per CPU-s)':>33}")  # fmt: skip
    status = 0
    with fast_server() as server:
        for ms in (0, args.latency_ms):
            for style, clients in CPU_CLIENTS.items():
                # 0 ms: enough pages for a stable CPU figure; 50 ms: a few seconds of wall time
                pages = args.cpu_pages if ms == 0 else (400 if style == "offset" else 40)
                runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
                for i in range(args.repeat):
                    for client in clients if i % 2 == 0 else clients[::-1]:
                        r = cpu_round(server.base, style, client, pages, ms, args)
                        if r["records"] != pages * PAGE_SIZE:
                            print(f"{client}: {r['records']} records, expected {pages * PAGE_SIZE}")
                            status = 1
                        runs[client].append(r)
                per_page = {c: statistics.median(r["cpu"] / r["pages"] for r in rs) for c, rs in runs.items()}
                rate = {c: statistics.median(r["records"] / r["wall"] for r in rs) for c, rs in runs.items()}
                ratio = per_page[clients[0]] / per_page["engine"]
                for client in clients:
                    shown = ""
                    if client == "engine":
                        verdict = "" if ms else ("  PASS" if ratio >= CPU_TARGET else "  FAIL")
                        shown = f"{ratio:.2f}x (wall {rate['engine'] / rate[clients[0]]:.2f}x){verdict}"
                        status |= 1 if (not ms and ratio < CPU_TARGET) else 0
                    print(f"{style:<7} {ms:>5}ms {client:<18} {pages:>6} {rate[client]:>10.0f} "
                          f"{per_page[client] * 1e6:>11.0f} {shown:>33}", flush=True)  # fmt: skip
    print()
    return status


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pages", type=int, default=200)
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--sizes", default="10000,1000000", help="records per memory round (first is the base)")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-cpu", action="store_true", help="skip part 3 (engine vs hand-written aiohttp)")
    p.add_argument("--only-cpu", action="store_true", help="run part 3 only")
    p.add_argument("--cpu-pages", type=int, default=2000, help="pages per part-3 round at 0 ms")
    p.add_argument("--repeat", type=int, default=3, help="part-3 rounds per client")
    p.add_argument("--cpu-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--style", help=argparse.SUPPRESS)
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--ms", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--round-timeout", type=float, default=600.0, help="hard limit per memory round, seconds")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    if args.cpu_child:
        cpu_child(args)
        return 0
    missing = engine_available()
    if missing:
        print(f"engine not importable yet ({missing})")
        return 1
    if args.only_cpu:
        return cpu(args)
    status = 0 if args.skip_cpu else cpu(args)
    with demo_api() as base:
        # memory first: a child's ru_maxrss starts at its parent's RSS at fork time, so the parent must
        # still be small (the speed part below keeps 20 000 records in memory)
        if not args.skip_memory:
            status |= memory(base, args)
        status |= speed(base, args)
    return status


if __name__ == "__main__":
    sys.exit(main())
