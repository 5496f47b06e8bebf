"""A recording reverse proxy for the framework servers: what reached the server, and how many at once.

It forwards every request to one upstream (``Host`` kept, so the frameworks build their next links with the
proxy's address and the client keeps coming back through it), records ``(path?query, status)`` and the
most requests in flight at once, and can add ``latency_s`` before each forward (so parallel pages overlap
at the server even when it answers in a millisecond). Runs on its own thread's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import ClientSession, ClientTimeout, web

from tests.support.net import free_port

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Recorded:
    """What the proxy saw (written by its thread; read after the requests you care about completed)."""

    requests: list[tuple[str, int]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0

    def reset(self) -> None:
        self.requests.clear()
        self.max_in_flight = self.in_flight


class RecordingProxy:
    """``url`` forwards to ``upstream`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, upstream: str, latency_s: float = 0.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.latency_s = latency_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen = Recorded()
        self._session: ClientSession | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        seen = self.seen
        seen.in_flight += 1
        seen.max_in_flight = max(seen.max_in_flight, seen.in_flight)
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            assert self._session is not None
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            headers["Host"] = request.host
            headers["Accept-Encoding"] = "identity"
            async with self._session.get(self.upstream + request.path_qs, headers=headers) as resp:
                body = await resp.read()
                out = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
                seen.requests.append((request.path_qs, resp.status))
                return web.Response(body=body, status=resp.status, headers=out)
        finally:
            seen.in_flight -= 1

    @contextlib.contextmanager
    def running(self) -> Iterator[RecordingProxy]:
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        runner: list[web.AppRunner] = []

        async def start() -> None:
            self._session = ClientSession(timeout=ClientTimeout(total=30), auto_decompress=True)
            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", self._handle)
            r = web.AppRunner(app, access_log=None)
            await r.setup()
            await web.TCPSite(r, "127.0.0.1", self.port).start()
            runner.append(r)

        async def stop() -> None:
            if runner:
                await runner[0].cleanup()
            if self._session is not None:
                await self._session.close()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(stop())
            loop.close()

        thread = threading.Thread(target=serve, name=f"proxy-{self.port}", daemon=True)
        thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("recording proxy did not start within 10 s")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
