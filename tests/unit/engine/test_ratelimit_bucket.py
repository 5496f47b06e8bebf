"""``Ratelimit(mode="bucket")``: the token bucket on a virtual clock (with ``burst=N``: a burst of N, then N
per period counted at send time, more than N/(T+latency) at high latency), and what stays the same: the
seed README's ``Ratelimit(num_requests=..., period=...)``, retries and the shared 429 cool-down. Paced
sends with a smaller burst: test_ratelimit_pacing.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData
from airflow_provider_bulk_uploader.engine.ratelimit import BucketLimiter, Limiter, SlotLimiter, new_limiter
from tests.support.retry import fast_policy

from .test_ratelimit_clock import max_in_window
from .virtual_clock import run_virtual

#: A virtual clock that moves at least 1 µs per timer (a real clock moves on; written for aiolimiter, which
#: re-armed its timer at a time float rounding could make equal to now, and kept: a limiter must not depend
#: on time standing still).
TICK = 1e-6


def test_mode_defaults_to_strict_and_the_seed_readme_form_still_works():
    rate = Ratelimit(num_requests=10, period=timedelta(seconds=2))
    assert rate.mode == "strict" and isinstance(new_limiter(rate), SlotLimiter)
    assert isinstance(new_limiter(Ratelimit(10, mode="bucket")), BucketLimiter)
    for limiter in (new_limiter(rate), new_limiter(Ratelimit(10, mode="bucket"))):
        assert isinstance(limiter, Limiter)


def test_an_unknown_mode_is_refused_naming_it():
    with pytest.raises(ValueError, match="strict, bucket; got 'leaky'"):
        Ratelimit(10, mode="leaky")  # type: ignore[arg-type]


async def _sends(limiter, n_requests: int, workers: int, latency: float) -> list[float]:
    loop = asyncio.get_running_loop()
    sent: list[float] = []
    remaining = iter(range(n_requests))

    async def worker() -> None:
        for _ in remaining:
            ticket = await limiter.acquire()
            sent.append(loop.time())
            await asyncio.sleep(latency)
            limiter.release(ticket)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return sent


def test_bucket_delivers_the_refill_rate_whatever_the_latency_while_strict_pays_for_it():
    n, latency = 50, 0.2
    # burst=n: the figures below count from a first burst of N leaving at once
    bucket_limiter = BucketLimiter(Ratelimit(n, mode="bucket", burst=n))
    bucket = run_virtual(_sends(bucket_limiter, 500, workers=64, latency=latency), min_step=TICK)
    strict = run_virtual(
        _sends(SlotLimiter(Ratelimit(n, burst=n)), 500, workers=64, latency=latency), min_step=TICK
    )
    # after the first burst: bucket at N per period, strict at N / (T + latency)
    bucket_rate = (500 - n) / (max(bucket) - min(bucket))
    strict_rate = (500 - n) / (max(strict) - min(strict))
    assert bucket_rate == pytest.approx(n, rel=0.03)
    assert strict_rate == pytest.approx(n / (1 + latency), rel=0.05)
    # the price: a bucket starts full, so its first period sees up to ~2N sends; strict never more than N
    assert n < max_in_window(bucket, 1.0) <= 2 * n
    assert max_in_window(strict, 1.0) <= n


@respx.mock
async def test_bucket_mode_keeps_retries_and_the_shared_429_cool_down():
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/a" and calls.count("/a") == 1:
            return httpx.Response(429, headers={"Retry-After": "0.3"})
        return httpx.Response(200, json={"path": request.url.path})

    respx.get(url__startswith="https://api.test/").mock(side_effect=answer)
    loop = asyncio.get_running_loop()
    started = loop.time()
    report = await UploadedData(
        ListStore(),
        url_maker=["https://api.test/a", "https://api.test/b"],
        rate_limit=Ratelimit(5, mode="bucket"),
        retry_policy=fast_policy(3),
        http_backend="httpx",
        progress_interval=0,
    ).run()
    assert report.succeeded == 2 and report.attempts == 3
    assert loop.time() - started >= 0.29  # the retry waited the Retry-After
