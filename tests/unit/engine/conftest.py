"""Shared fixtures and helpers for the engine suite: credentials, respx routes, a recording store, a dripping
server.

The demo API fixtures (``demo``, ``make_demo``) are suite-wide, in :mod:`tests.support.demo`; the fast retry
policy is :func:`tests.support.retry.fast_policy`; the virtual clock is :mod:`.virtual_clock`.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    QueryParamsAuth,
)
from tests.support.retry import fast_policy  # noqa: F401 - re-exported for engine tests written before the move

BACKENDS = ("aiohttp", "httpx")


def secret(prefix: str = "tok") -> str:
    """A unique credential per test (the redaction registry is process-wide)."""
    return f"{prefix}-{uuid.uuid4().hex}"


def mock_items(delay: float | None = None, base: str = "https://api.test"):
    """respx: /items/<n> answers {"id": n}; with ``delay``, after an asyncio.sleep (a mocked response
    otherwise completes without ever yielding to the loop, so one worker would do all the work)."""

    def answer(request):
        return httpx.Response(200, json={"id": int(request.url.path.rsplit("/", 1)[1])})

    async def answer_later(request):
        await asyncio.sleep(delay)
        return answer(request)

    return respx.get(url__regex=rf"{base}/items/\d+").mock(
        side_effect=answer if delay is None else answer_later
    )


AUTH_MODES = ("header", "query", "bearer", "basic")


def make_auth(mode: str, token: str):
    return {
        "header": lambda: HeaderAuth("X-API-Key", token),
        "query": lambda: QueryParamsAuth("api_key", token),
        "bearer": lambda: BearerAuth(token),
        "basic": lambda: BasicAuth("user", token),
    }[mode]()


def credential_seen(record, mode: str, token: str) -> bool:
    """Did this request (as the server recorded it) carry the credential in any form?"""
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    values = [*record.headers.values(), *record.query.values()]
    return any(token in v or basic in v for v in values)


class RecordingStore:
    """A store with ``add_batch`` that remembers every call (and optionally is async or fails)."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.flushed = 0

    def add(self, item: Any) -> None:  # pragma: no cover - add_batch is preferred by the engine
        raise AssertionError("add() must not be called when add_batch() exists")

    def add_batch(self, items: list[Any]) -> None:
        self.batches.append(list(items))

    def flush(self) -> None:
        self.flushed += 1

    def saved_data(self) -> list[Any]:
        return [item for batch in self.batches for item in batch]


@pytest.fixture
async def drip_server():
    """A tiny aiohttp.web server on 127.0.0.1 (the demo API has no such endpoint): ``/drip?chunks=N&every=S``
    answers 200 JSON but sends it one small chunk every ``S`` seconds. Yields the base URL."""
    import asyncio

    from aiohttp import web

    async def drip(request: web.Request) -> web.StreamResponse:
        chunks, every = int(request.query.get("chunks", "10")), float(request.query.get("every", "0.1"))
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        try:
            await resp.write(b"[")
            for _ in range(min(chunks, 100)):
                await asyncio.sleep(every)
                await resp.write(b"1,")
            await resp.write(b"1]")
            await resp.write_eof()
        except (ConnectionError, RuntimeError):  # the client gave up: fine
            pass
        return resp

    app = web.Application()
    app.router.add_get("/drip", drip)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
