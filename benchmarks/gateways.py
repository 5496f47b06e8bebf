"""The rate limiter against real gateways: nginx ``limit_req`` (no burst, ``burst=5``, ``burst=20
nodelay``) and HAProxy (``sc_http_req_rate(1s) gt 20`` -> 429), all admitting 20 requests per second,
started on loopback by :mod:`tests.support.gateways` (each with its own config; a slow loopback backend
behind it for the latency rows).

For each gateway x mode (strict, bucket) x latency (0 ms, 200 ms), one engine run of ``--ids`` ids at
concurrency ``--concurrency`` per variant, as a new user would (default retry policy):

* ``today``     ``Ratelimit(20, burst=20, adaptive=False)``: every slot / the whole bucket at once, no
                 adaptation (the behaviour before issue 19; on a checkout without ``burst`` it is simply
                 ``Ratelimit(20)``: run this script there for the real "before")
* ``declared``  ``Ratelimit(20, burst=<the gateway's, as the docs read it>)``
* ``default``   ``Ratelimit(20)``: only N and T declared
* ``2x``        ``Ratelimit(40)``: the declared quota twice what the gateway admits (defaults otherwise)
* ``b<K>``      ``Ratelimit(20, burst=K)`` (``--variants b1,b2,b4,b8``: the measurement behind the default)

Columns: records stored per second as a fraction of the gateway's rate (``delivered``), 429s the gateway
answered, URLs lost (failed after the retry policy gave up), wall time. Exits non-zero when a run other
than ``today`` lost an id, or a ``declared``/``default`` run drew more than 5 % 429s.

Usage: python benchmarks/gateways.py [--configs nginx,haproxy] [--modes strict] [--latencies 0,200]
           [--variants today,declared] [--ids 100] [--concurrency 16] [--json out.json]
Needs nginx (Debian ``nginx-light``) and ``haproxy``. Every process started is stopped; every run is bounded
(the retry policy ends each URL; a run is cancelled after ``--timeout`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.gateways import BY_NAME, CONFIGS, GatewayConfig, fetch_through, running_gateway  # noqa: E402

VARIANTS = ("today", "declared", "default", "2x")
#: variants whose runs must stay within 5 % 429s (and every variant but "today" must lose no id)
GATED = ("declared", "default")
#: seconds between two runs on one gateway (each run has a meter of its own: fetch_through sends a fresh
#: X-Meter-Key); a short breath for the box between runs
GAP_SECONDS = 0.5


def rate_for(variant: str, config: GatewayConfig, mode: str) -> Any:
    from airflow_provider_bulk_uploader import Ratelimit

    fields = {f.name for f in dataclasses.fields(Ratelimit)}
    n, period = config.rate, timedelta(seconds=1)
    if variant == "today":
        if "burst" not in fields:  # a checkout before issue 19: this is what it does
            return Ratelimit(n, period, mode=mode)  # type: ignore[arg-type]
        return Ratelimit(n, period, mode=mode, burst=n, adaptive=False)  # type: ignore[arg-type, call-arg]
    if variant == "declared":
        return Ratelimit(n, period, mode=mode, burst=config.matching_burst)  # type: ignore[arg-type, call-arg]
    if variant == "default":
        return Ratelimit(n, period, mode=mode)  # type: ignore[arg-type]
    if variant == "2x":
        return Ratelimit(2 * n, period, mode=mode)  # type: ignore[arg-type]
    if variant.startswith("b") and variant[1:].isdigit():  # how the default burst was chosen
        return Ratelimit(n, period, mode=mode, burst=int(variant[1:]))  # type: ignore[arg-type, call-arg]
    raise ValueError(f"unknown variant {variant!r}")


async def one_run(gateway: Any, rate: Any, ids: int, concurrency: int, timeout: float) -> dict[str, Any]:
    run = await asyncio.wait_for(fetch_through(gateway, rate, ids=ids, concurrency=concurrency), timeout)
    lost = ids - len(set(run.stored_ids))
    report = run.report.to_dict()
    return {
        "delivered": round(run.delivered, 3),
        "rejections": run.rejections,
        "lost": lost,
        "duplicates": len(run.stored_ids) - len(set(run.stored_ids)),
        "wall_seconds": round(run.wall_seconds, 2),
        "attempts": run.attempts,
        "effective_rate_min": report.get("effective_rate_min"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default=",".join(c.name for c in CONFIGS))
    parser.add_argument("--modes", default="strict,bucket")
    parser.add_argument("--latencies", default="0,200", help="backend latency behind the gateway, ms")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--ids", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds one run may take")
    parser.add_argument("--json", help="also write every row to this file")
    args = parser.parse_args()
    configs = [BY_NAME[name] for name in args.configs.split(",")]
    modes = args.modes.split(",")
    latencies = [float(x) for x in args.latencies.split(",")]
    variants = args.variants.split(",")
    rows: list[dict[str, Any]] = []
    header = (
        "| gateway | latency | mode | variant | delivered (of 20/s) | 429s | lost | wall s |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    started = time.monotonic()
    for latency in latencies:
        for config in configs:
            with running_gateway(config, latency_ms=latency, items=max(2000, args.ids)) as gateway:
                for mode in modes:
                    for variant in variants:
                        time.sleep(GAP_SECONDS)
                        rate = rate_for(variant, config, mode)
                        result = asyncio.run(one_run(gateway, rate, args.ids, args.concurrency, args.timeout))
                        row = {
                            "gateway": config.describe(),
                            "config": config.name,
                            "latency_ms": latency,
                            "mode": mode,
                            "variant": variant,
                            "rate_limit": repr(rate),
                            **result,
                        }
                        rows.append(row)
                        print(
                            f"| {row['gateway']} | {latency:g} ms | {mode} | {variant} | "
                            f"{row['delivered']:.2f} | {row['rejections']} | {row['lost']} | "
                            f"{row['wall_seconds']:.1f} |",
                            flush=True,
                        )
    print(f"\n{len(rows)} runs in {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    missed = [
        r
        for r in rows
        if r["variant"] != "today"
        and (r["lost"] or (r["variant"] in GATED and r["rejections"] > 0.05 * r["attempts"]))
    ]
    for r in missed:
        print(
            f"TARGET MISSED: {r['gateway']} {r['latency_ms']:g} ms {r['mode']} {r['variant']}: {r}",
            flush=True,
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
