"""Shared fixtures for the engine suite: loopback demo servers, fast retry policies, helpers.

Integration tests talk to :mod:`airflow_provider_bulk_uploader.testing.demo_api` running on its own
thread and event loop (``running_demo_api``), so the arrival timestamps it records are those of an
independent server, not of the client's loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    QueryParamsAuth,
    default_retry_policy,
)
from airflow_provider_bulk_uploader.testing import DemoAPI, running_demo_api

BACKENDS = ("aiohttp", "httpx")


def fast_policy(max_attempts: int = 3):
    """The default retry policy (same predicate, Retry-After handling) with millisecond backoff."""
    return default_retry_policy(max_attempts, initial_wait=0.01, max_wait=0.05, jitter=0.0)


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
def demo() -> Iterator[DemoAPI]:
    """A demo API without auth, rate limit or faults on 127.0.0.1 (its own thread and loop)."""
    with running_demo_api() as api:
        yield api


@pytest.fixture
def make_demo() -> Iterator[Callable[..., DemoAPI]]:
    """Start extra demo servers (``make_demo(token=..., auth=...)``); all stopped at teardown."""
    with contextlib.ExitStack() as stack:

        def make(**kwargs: Any) -> DemoAPI:
            return stack.enter_context(running_demo_api(**kwargs))

        yield make


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
