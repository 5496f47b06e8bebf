"""A loopback backend for the gateways of :mod:`tests.support.gateways`: ``GET /items/<id>`` answers
``{"id": <id>}`` after a fixed latency. Run as its own process (its event loop and CPU are not the client's)::

    python -m tests.support.slow_backend --port 8123 --latency-ms 200

prints ``listening on http://127.0.0.1:PORT`` once it accepts connections and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web


def build_app(latency: float) -> web.Application:
    async def item(request: web.Request) -> web.Response:
        if latency > 0:
            await asyncio.sleep(latency)
        text = request.match_info["id"]
        return web.json_response({"id": int(text) if text.isdigit() else text})

    app = web.Application()
    app.router.add_get("/items/{id}", item)
    return app


async def serve(port: int, latency: float) -> None:
    runner = web.AppRunner(build_app(latency), access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.latency_ms / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
