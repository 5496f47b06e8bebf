"""``python -m airflow_provider_bulk_uploader.testing.demo_api``: serve the demo API until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from .server import AUTH_MODES, DemoAPI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m airflow_provider_bulk_uploader.testing.demo_api",
        description="Deterministic demo API on 127.0.0.1 (rate limit, auth, seeded faults).",
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    p.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow a --host that is not loopback (only inside a container's private network)",
    )
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--rate-limit", type=int, default=None, help="admitted requests per period")
    p.add_argument("--period", type=float, default=1.0, help="rate-limit window in seconds")
    p.add_argument("--fault-rate", type=float, default=0.0, help="probability of an injected 503")
    p.add_argument("--fault-429-rate", type=float, default=0.0, help="probability of an injected 429")
    p.add_argument("--fault-retry-after", type=int, default=1, help="Retry-After of injected 429s")
    p.add_argument(
        "--token",
        default=os.environ.get("DEMO_API_TOKEN"),
        help="required secret (default: $DEMO_API_TOKEN; none -> no auth)",
    )
    p.add_argument("--auth", choices=AUTH_MODES, default="header")
    p.add_argument("--auth-name", default=None, help="header / query parameter name")
    p.add_argument("--username", default="user", help="user name for --auth basic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-max-ids", type=int, default=100, help="ids per request /batch/items accepts")
    return p


async def _serve_until_signal(api: DemoAPI) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with api:
        print(f"listening on {api.url}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        # the parser's option names are DemoAPI's keyword arguments
        api = DemoAPI(**vars(args), record_requests=False)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve_until_signal(api))
    return 0


if __name__ == "__main__":
    sys.exit(main())
