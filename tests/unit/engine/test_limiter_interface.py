"""The engine's side of the :class:`Limiter` interface, with a recording limiter and respx on a virtual clock:
every acquire is paired with one release of the same ticket, a 429 / 503-with-Retry-After / used-up
RateLimit headers reach ``limiter.pause`` (what makes a shared cool-down shared), a slot granted during a
pause is given back rather than held through it, ``aclose`` runs once, and a limiter backend failure stops
the run instead of failing URLs one by one."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData
from airflow_provider_bulk_uploader.engine.errors import RateLimitBackendError
from airflow_provider_bulk_uploader.engine.ratelimit import Limiter
from tests.support.retry import fast_policy

from .virtual_clock import run_virtual


class RecordingLimiter:
    def __init__(self, n: int = 4, fail_after: int | None = None) -> None:
        self.rate = Ratelimit(n, timedelta(seconds=1))
        self.tickets = itertools.count()
        self.held: set[int] = set()
        self.events: list[tuple[str, Any]] = []
        self.pauses: list[float] = []
        self.closed = 0
        self.fail_after = fail_after

    async def acquire(self) -> int:
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            raise RateLimitBackendError("limiter 'x': lost Redis at 127.0.0.1:1/0")
        await asyncio.sleep(0)
        ticket = next(self.tickets)
        self.held.add(ticket)
        self.events.append(("acquire", ticket))
        return ticket

    def release(self, ticket: Any = None) -> None:
        self.held.remove(ticket)
        self.events.append(("release", ticket))

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)

    def free_again_at(self) -> float:
        return float("-inf")

    async def aclose(self) -> None:
        self.closed += 1


def _run(limiter: RecordingLimiter, urls: list[str], **kwargs: Any):
    async def go():
        return await UploadedData(
            ListStore(),
            url_maker=urls,
            rate_limit=limiter,
            http_backend="httpx",
            progress_interval=0,
            retry_policy=fast_policy(3),
            **kwargs,
        ).run()

    with respx.mock:
        respx.get(url__startswith="https://api.test/ok").mock(return_value=httpx.Response(200, json=1))
        respx.get("https://api.test/429").mock(
            side_effect=[httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json=2)]
        )
        respx.get("https://api.test/503").mock(
            side_effect=[
                httpx.Response(503, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"}),
                httpx.Response(200, json=3),
            ]
        )
        return run_virtual(go())


def test_a_limiter_instance_is_accepted_and_every_acquire_is_released_once():
    limiter = RecordingLimiter()
    assert isinstance(limiter, Limiter)
    report = _run(limiter, [f"https://api.test/ok/{i}" for i in range(20)])
    assert report.succeeded == 20
    acquired = [t for kind, t in limiter.events if kind == "acquire"]
    released = [t for kind, t in limiter.events if kind == "release"]
    assert len(acquired) == 20 and sorted(acquired) == sorted(released) and not limiter.held
    assert limiter.closed == 1


def test_server_pauses_reach_the_limiter_so_they_can_be_shared():
    limiter = RecordingLimiter()
    report = _run(limiter, ["https://api.test/429", "https://api.test/503", "https://api.test/ok/1"])
    assert report.succeeded == 3 and report.attempts == 5
    assert sorted(limiter.pauses) == [2.0, 3.0]
    assert not limiter.held


def test_a_slot_granted_during_a_pause_is_given_back_not_held_through_it():
    limiter = RecordingLimiter(n=4)
    urls = ["https://api.test/429"] + [f"https://api.test/ok/{i}" for i in range(30)]
    report = _run(limiter, urls, max_concurrency=2)
    # after the 429 (2 s pause) the other worker got a ticket, released it unused and acquired again
    kinds = [kind for kind, _ in limiter.events]
    assert kinds.count("acquire") == kinds.count("release") and not limiter.held
    assert report.attempts == 32 and kinds.count("acquire") > report.attempts


def test_a_limiter_backend_failure_stops_the_run_instead_of_failing_urls():
    limiter = RecordingLimiter(fail_after=6)
    with pytest.raises(RateLimitBackendError, match="lost Redis"):
        _run(limiter, [f"https://api.test/ok/{i}" for i in range(50)])
    assert limiter.closed == 1 and not limiter.held
