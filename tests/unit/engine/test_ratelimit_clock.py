"""SlotLimiter and CoolDown on a virtual clock: the strict-window promise, pacing, fairness, cancellation,
and the whole engine (respx-mocked, retries included) measured by arrival time at the "server"."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData, default_retry_policy
from airflow_provider_bulk_uploader.engine.ratelimit import SlotLimiter
from airflow_provider_bulk_uploader.engine.retries import CoolDown
from airflow_provider_bulk_uploader.testing import max_in_window

from .virtual_clock import run_virtual


async def _simulate(limiter: SlotLimiter, n_requests: int, workers: int, latency: float, seed: int = 0):
    """Workers send requests through the limiter; each request *arrives* at a random moment between its
    grant and its response (network delay), and the response comes ``latency`` after the grant."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    remaining = iter(range(n_requests))

    async def worker() -> None:
        for _ in remaining:
            await limiter.acquire()
            granted = loop.time()
            arrivals.append(granted + rng.uniform(0, latency))
            await asyncio.sleep(latency)
            limiter.release()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return arrivals, loop.time()


@pytest.mark.parametrize("latency", [0.001, 0.05, 0.4])
def test_never_more_than_n_arrivals_in_any_window(latency):
    rate = Ratelimit(10, timedelta(seconds=1))
    arrivals, _ = run_virtual(_simulate(SlotLimiter(rate), 300, workers=64, latency=latency))
    assert len(arrivals) == 300
    # never more than 10, and the window is full at least once: the quota is used, not wasted
    assert max_in_window(arrivals, 1.0) == 10


def test_long_run_paces_at_95_percent_of_the_quota_or_better():
    rate = Ratelimit(50, timedelta(seconds=1))
    arrivals, elapsed = run_virtual(_simulate(SlotLimiter(rate), 5000, workers=64, latency=0.005))
    assert max_in_window(arrivals, 1.0) <= 50
    achieved = 5000 / elapsed
    assert achieved >= 0.95 * rate.requests_per_second, achieved
    assert achieved <= rate.requests_per_second * 1.02, achieved


def test_first_period_is_not_doubled_like_a_leaky_bucket():
    # aiolimiter.AsyncLimiter(N, T) starts full and refills continuously: ~2N starts in the first T.
    rate = Ratelimit(20, timedelta(seconds=2))
    arrivals, _ = run_virtual(_simulate(SlotLimiter(rate), 100, workers=100, latency=0.001))
    first_period = [t for t in arrivals if t < 2.0]
    assert len(first_period) == 20


def test_waiters_are_served_first_come_first_served():
    async def scenario():
        limiter = SlotLimiter(Ratelimit(1, timedelta(seconds=1)))
        order: list[int] = []

        async def take(i: int) -> None:
            await limiter.acquire()
            order.append(i)
            limiter.release()

        await limiter.acquire()
        tasks = [asyncio.ensure_future(take(i)) for i in range(5)]
        await asyncio.sleep(0)
        limiter.release()
        await asyncio.gather(*tasks)
        return order, asyncio.get_running_loop().time()

    order, elapsed = run_virtual(scenario())
    assert order == [0, 1, 2, 3, 4]
    assert elapsed == pytest.approx(5.0)  # one slot, reusable a period after each release


def test_cancelled_waiter_does_not_leak_or_steal_a_slot():
    async def scenario():
        limiter = SlotLimiter(Ratelimit(2, timedelta(seconds=1), burst=2))  # both slots taken at once
        await limiter.acquire()
        await limiter.acquire()
        doomed = asyncio.ensure_future(limiter.acquire())
        survivor = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        doomed.cancel()
        limiter.release()
        limiter.release()
        await asyncio.wait_for(survivor, timeout=5)
        granted_at = asyncio.get_running_loop().time()
        # the cancelled waiter took nothing: the second released slot is still there
        await asyncio.wait_for(limiter.acquire(), timeout=5)
        return granted_at, doomed.cancelled()

    granted_at, cancelled = run_virtual(scenario())
    assert cancelled
    assert granted_at == pytest.approx(1.0)


def test_cooldown_holds_every_waiter_until_it_passes():
    async def scenario():
        loop = asyncio.get_running_loop()
        cooldown = CoolDown()
        cooldown.pause(3.0)
        cooldown.pause(1.0)  # a shorter pause never shortens the current one
        released: list[float] = []

        async def waiter() -> None:
            await cooldown.wait()
            released.append(loop.time())

        await asyncio.gather(*(waiter() for _ in range(4)))
        return released

    released = run_virtual(scenario())
    assert released == [pytest.approx(3.0)] * 4


def test_engine_keeps_the_window_with_retries_and_a_shared_429_pause():
    """The whole engine on the virtual clock: 503s and a 429 are retried, every attempt counts."""
    rate = Ratelimit(5, timedelta(seconds=1))
    arrivals: list[float] = []
    calls: dict[str, int] = {}
    throttled_at: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(asyncio.get_running_loop().time())
        key = request.url.path
        calls[key] = calls.get(key, 0) + 1
        if key == "/items/3" and calls[key] == 1:
            throttled_at.append(arrivals[-1])
            return httpx.Response(429, headers={"Retry-After": "2"})
        if key.endswith("7") and calls[key] < 3:
            return httpx.Response(503)
        return httpx.Response(200, json={"path": key})

    async def scenario():
        with respx.mock(assert_all_called=False) as mock:
            mock.get(url__startswith="https://api.test/").mock(side_effect=handler)
            store = ListStore()
            uploader = UploadedData(
                store,
                url_maker=[f"https://api.test/items/{i}" for i in range(40)],
                rate_limit=rate,
                retry_policy=default_retry_policy(5, initial_wait=0.1, jitter=0),
                http_backend="httpx",
                progress_interval=0,
            )
            report = await uploader.run()
            return report, store

    report, store = run_virtual(scenario())
    assert report.succeeded == 40 and report.failed == 0
    assert len(store.saved_data()) == 40
    assert report.attempts == len(arrivals) == 40 + 1 + 2 * 4  # one 429 retry, two 503 retries x 4 URLs
    assert max_in_window(arrivals, 1.0) <= 5
    # the 429 (Retry-After: 2) paused every worker, not only the one that got it
    (t429,) = throttled_at
    after = [t for t in arrivals if t > t429]
    assert after and min(after) >= t429 + 2.0


def test_released_slots_are_reused_so_memory_stays_flat_under_a_huge_quota():
    """With Ratelimit(10**6) most slots are never used; released slots that are free again must be taken
    first, or the queue of released slots grows by one entry per request (~32 MB per million URLs)."""

    async def scenario():
        limiter = SlotLimiter(Ratelimit(10**6, timedelta(seconds=1)))
        remaining = iter(range(20_000))

        async def worker() -> None:
            for _ in remaining:
                async with limiter.slot():
                    await asyncio.sleep(0.01)

        await asyncio.gather(*(worker() for _ in range(64)))
        return len(limiter._ready_at), asyncio.get_running_loop().time()

    queued, elapsed = run_virtual(scenario())
    assert elapsed == pytest.approx(20_000 / 64 * 0.01, rel=0.01)  # never throttled
    assert queued <= 7_000  # about one period of requests (6,400 req/s here), not 20,000


@pytest.mark.parametrize("settle", [False, True])
def test_settle_keeps_the_window_across_back_to_back_runs(settle):
    """Two runs one after the other, each with its own limiter (as two Airflow tasks in one pool slot):
    only with settle=True does the first wait out its window, so the pair stays within the limit."""
    rate = Ratelimit(5, timedelta(seconds=1))
    arrivals: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(asyncio.get_running_loop().time())
        return httpx.Response(200, json={})

    async def scenario():
        with respx.mock:
            respx.get(url__startswith="https://api.test/").mock(side_effect=handler)
            for run in range(2):
                await UploadedData(
                    ListStore(),
                    url_maker=[f"https://api.test/{run}/{i}" for i in range(5)],
                    rate_limit=rate,
                    http_backend="httpx",
                    progress_interval=0,
                    settle=settle,
                ).run()

    run_virtual(scenario())
    assert len(arrivals) == 10
    assert (max_in_window(arrivals, 1.0) <= 5) is settle
