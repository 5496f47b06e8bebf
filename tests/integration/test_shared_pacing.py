"""The shared budget paces and adapts (issue 19.4), against a real ``redis-server`` and the demo API (which
logs every arrival): several limiters on one key (each a process of its own in production: its own client,
its own leader) hold one emission interval together, a declared burst leaves back to back and no more,
every process resumes paced after a shared pause, a rejection seen by one process lowers the pace of the
others, and the pace climbs back toward the declared rate, never above it. The Lua scripts apply
:class:`~airflow_provider_bulk_uploader.engine.adaptive.AdaptiveRate`'s arithmetic exactly.

Small quotas (20 per second: one request every 50 ms) keep each test to a few seconds. Gaps are measured
at the server; the margins allow for a loaded 2-core box (a request can reach the server a few ms late),
not for a limiter that sends in bursts (gaps of ~0 ms)."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine.adaptive import AdaptiveRate
from airflow_provider_bulk_uploader.engine.ratelimit import AdaptiveLimiter
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from airflow_provider_bulk_uploader.testing import DemoAPI, max_in_window
from tests.support.redis import RedisServer, redis_or_skip
from tests.support.shared_limit import arrivals, budget_key, fetch_through, mark_unused

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(120)]

MODES = ("strict", "bucket")
N = 20  # per second: one request every 50 ms
INTERVAL = 1.0 / N
PROCESSES = 3


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with redis_or_skip() as server:
        yield server


def _limiters(server: RedisServer, key: str, rate: Ratelimit, count: int = PROCESSES) -> list[RedisLimiter]:
    """``count`` limiters on ``key`` (clients of their own), the key last used long ago: it starts free."""
    mark_unused(server.client(), key, rate.num_requests if rate.mode == "strict" else None)
    return [RedisLimiter(rate, server.url, key, attempt_timeout=2.0, lease_margin=1.0) for _ in range(count)]


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(sorted(times))]


def _paced(times: list[float], interval: float, *, skip: int = 0) -> None:
    """No two arrivals (after the first ``skip`` gaps: a burst) closer than about ``interval``."""
    gaps = sorted(_gaps(times)[skip:])
    assert gaps, times
    assert gaps[0] >= 0.5 * interval, f"arrivals {gaps[0] * 1000:.1f} ms apart (interval {interval * 1000:g})"
    tenth = gaps[len(gaps) // 10]
    assert tenth >= 0.8 * interval, f"a tenth of the gaps below {tenth * 1000:.1f} ms"


async def _fetch_all(limiters: list[RedisLimiter], demo: DemoAPI, per: int, **kwargs: Any) -> list[Any]:
    runs = [
        fetch_through(limiter, [f"{demo.url}/items/{p * 1000 + i}?p={p}" for i in range(per)], **kwargs)
        for p, limiter in enumerate(limiters)
    ]
    return await asyncio.wait_for(asyncio.gather(*runs), 60)


@pytest.mark.parametrize("mode", MODES)
async def test_processes_on_one_key_hold_one_emission_interval(redis_server, demo, request, mode):
    rate = Ratelimit(N, timedelta(seconds=1), mode=mode)  # the default burst: 1
    limiters = _limiters(redis_server, budget_key(request), rate)
    results = await _fetch_all(limiters, demo, 15, concurrency=8)
    assert [r[0].succeeded for r in results] == [15] * PROCESSES
    seen = arrivals(demo, *map(str, range(PROCESSES)))
    assert len(seen) == 15 * PROCESSES  # every id once
    gaps = _gaps(seen)
    print(
        f"{mode}: {len(seen)} arrivals, gaps min {min(gaps) * 1000:.1f} ms, median "
        f"{statistics.median(gaps) * 1000:.1f} ms (interval {INTERVAL * 1000:g}); "
        f"round trips {[lim.acquire_calls for lim in limiters]}"
    )
    _paced(seen, INTERVAL)
    # and paced at the rate, not slower: every process got its turn at the shared pace
    assert (len(seen) - 1) / (seen[-1] - seen[0]) >= 0.85 * N
    by = [arrivals(demo, str(p)) for p in range(PROCESSES)]
    assert all(len(times) == 15 for times in by)


@pytest.mark.parametrize("mode", MODES)
async def test_a_declared_burst_leaves_back_to_back_and_then_paced(redis_server, demo, request, mode):
    burst = 5
    rate = Ratelimit(N, timedelta(seconds=1), mode=mode, burst=burst)
    limiters = _limiters(redis_server, budget_key(request), rate)
    await _fetch_all(limiters, demo, 12, concurrency=8)
    seen = arrivals(demo, *map(str, range(PROCESSES)))
    assert len(seen) == 12 * PROCESSES
    print(
        f"{mode}: first {burst + 1} arrivals at {[round((t - seen[0]) * 1000) for t in seen[: burst + 1]]} ms"
    )
    assert seen[burst - 1] - seen[0] < INTERVAL  # the burst, at once
    # then paced (GCRA): at most burst + w / interval in any window w (one more for an arrival late on a
    # loaded box); a grant that came late may be caught up with the burst credit, no more
    for window in (0.1, 0.25, 0.5, 1.0):
        assert max_in_window(seen, window) <= burst + round(window / INTERVAL) + 1, window
    assert (len(seen) - burst) / (seen[-1] - seen[0]) <= N * 1.05


@pytest.mark.parametrize("mode", MODES)
async def test_after_a_shared_pause_every_process_resumes_paced(redis_server, demo, request, mode):
    # adaptive=False: a 429 without Retry-After pauses every process on the key for a second (as before)
    rate = Ratelimit(N, timedelta(seconds=1), mode=mode, adaptive=False)
    hit, *others = _limiters(redis_server, budget_key(request), rate)
    runs = [
        fetch_through(limiter, [f"{demo.url}/items/{p * 1000 + i}?p={p}" for i in range(25)], concurrency=16)
        for p, limiter in enumerate(others)
    ]

    async def rejected_later() -> Any:
        await asyncio.sleep(0.4)
        return await fetch_through(hit, [f"{demo.url}/flaky/pause?fails=1&status=429&p=hit"], concurrency=1)

    await asyncio.wait_for(asyncio.gather(*runs, rejected_later()), 60)
    [rejected] = [r.arrival for r in demo.requests if r.status == 429]
    seen = arrivals(demo, *map(str, range(len(others))), "hit")
    during = [t for t in seen if rejected + 0.05 < t < rejected + 0.95]
    after = [t for t in seen if t >= rejected + 0.95]
    first_gaps = [round(g * 1000) for g in _gaps(after)[:8]]
    print(f"{mode}: {len(during)} arrivals during the pause, then gaps {first_gaps} ms")
    assert not during  # the pause held every process on the key
    assert len(after) >= 10  # the others still had work when it ended
    # 16 requests per process were waiting and the budget had refilled: they resume one interval apart
    _paced(after, INTERVAL)
    assert max_in_window(after, 0.25) <= round(0.25 / INTERVAL) + 1


@pytest.mark.parametrize("mode", MODES)
async def test_a_rejection_seen_by_one_process_lowers_the_pace_of_the_others(
    redis_server, demo, request, mode
):
    rate = Ratelimit(N, timedelta(seconds=1), mode=mode)  # adaptive (the default)
    hit, *others = _limiters(redis_server, budget_key(request), rate)
    assert all(isinstance(limiter, AdaptiveLimiter) for limiter in (hit, *others))
    samples: list[tuple[float, float]] = []  # (loop time, the pace another process paces at)
    loop = asyncio.get_running_loop()

    async def watch() -> None:
        while True:
            samples.append((loop.time(), others[0].effective_rate))
            await asyncio.sleep(0.01)

    runs = [
        fetch_through(limiter, [f"{demo.url}/items/{p * 1000 + i}?p={p}" for i in range(30)], concurrency=16)
        for p, limiter in enumerate(others)
    ]

    async def rejected_later() -> Any:
        await asyncio.sleep(0.4)
        # two 429s without Retry-After in a row, the retry sent after the pace was lowered: two decreases
        return await fetch_through(hit, [f"{demo.url}/flaky/lower?fails=2&status=429&p=hit"], concurrency=1)

    watcher = asyncio.ensure_future(watch())
    try:
        results = await asyncio.wait_for(asyncio.gather(*runs, rejected_later()), 60)
    finally:
        watcher.cancel()
    assert [r[0].succeeded for r in results] == [30] * len(others) + [1]
    hit_report = results[-1][0]
    assert hit_report.rejections == 2
    rejected = [r.arrival for r in demo.requests if r.status == 429]
    seen = arrivals(demo, *map(str, range(len(others))))
    lowest = min(rate for _t, rate in samples)
    at = [round((t - seen[0]) * 1000) for t in rejected]
    reported = [round(r[0].effective_rate_min, 2) for r in results]
    print(f"{mode}: 429s at +{at} ms; the others' pace went down to {lowest:.2f}/s (reports: {reported})")
    # the others were slowed by what the hit process saw (alone, they would never have left 20/s): their
    # pace went down with it (to 0.7 x 20, then 0.7 x what it had climbed back to; they see it at their next
    # round trip, a little climbed already), and their reports say so
    assert lowest < 0.8 * N
    assert all(limiter.lowest_rate < 0.8 * N for limiter in others)
    assert all(r[0].effective_rate_min < 0.8 * N for r in results[:-1])
    # ... without the fixed second of pause of a non-adapting limiter: no gap near a second after a 429
    after = [t for t in seen if t > rejected[0]]
    assert after and max(_gaps(after)) < 0.5
    # the first gaps after the first 429 are longer than the declared interval
    assert sum(_gaps(after)[:3]) >= 3 * 1.2 * INTERVAL
    # climbing back toward the declared rate and never above it: the pace rises after its lowest point
    # (quickly to the rate rejected last, ~18/s, then probing upward by 2/s per second) and no two arrivals
    # were ever closer than the declared interval allows
    assert max(rate for _t, rate in samples) <= N + 1e-9
    # two 429s, two decreases: the others' pace falls at most twice and rises in between and after (each
    # decrease is seen at their next round trip, a little climbed already: on a loaded box the second can
    # be seen above the first's lowest point, so the climb is checked from the last fall)
    rates = [rate for _t, rate in samples]
    falls = [i for i in range(1, len(rates)) if rates[i] < rates[i - 1] - 1e-6]
    assert 1 <= len(falls) <= 2, rates
    assert max(rates[falls[0] :]) >= 1.3 * lowest, rates  # climbed back after the first fall
    climb = rates[falls[-1] :]
    assert climb[-1] > climb[0], rates  # and is climbing after the last (the run may end before it is back)
    _paced(seen, INTERVAL)


async def test_the_scripts_lower_and_climb_as_adaptive_rate_does(redis_server, request):
    """lua/pace.lua and lua/adapt.lua against engine/adaptive.py: the same state after each rejection, and
    the same interval at each acquire, at the times Redis's clock gave."""
    from airflow_provider_bulk_uploader.engine.shared.pace import PaceReply

    rate = Ratelimit(40, timedelta(seconds=1), mode="bucket", burst=8)
    [limiter] = _limiters(redis_server, budget_key(request), rate, count=1)
    strategy, call = limiter._strategy, None  # the scripts, through the limiter's own client and bounds
    try:
        await limiter.acquire()  # opens the client, registers the scripts
        call = limiter._call
        model = AdaptiveRate(rate.requests_per_second, 8)
        reply: PaceReply | None = None
        # rejections sent: after, before and after the last decrease; waits let the rate climb in between
        steps = [(0.0, +0.001), (0.05, -0.01), (0.02, +0.001), (0.25, +0.001), (0.6, +0.001), (0.1, -0.2)]
        for wait, sent_offset in steps:
            await asyncio.sleep(wait)
            ask = await strategy.ask(call, 1)
            assert ask.pace is not None
            # the interval in force is the model's at the same instant (epoch seconds in a float: ulp 0.2 µs)
            expected = max(rate.emission_interval, 1 / model.rate_at(ask.pace.now_us / 1e6))
            assert ask.pace.interval_us / 1e6 == pytest.approx(expected, rel=1e-6)
            assert ask.pace.burst == model.burst_at(ask.pace.now_us / 1e6)
            since = model.since if model.decreases else ask.pace.now_us / 1e6
            sent_us = round((since + sent_offset) * 1e6)
            lowered, reply = await strategy.reject(call, 1, sent_us)
            assert lowered == model.on_rejection(reply.now_us / 1e6, sent_us / 1e6)
            assert (reply.decreases, reply.below, reply.lowered_burst) == (
                model.decreases,
                model.below,
                model.burst,
            )
            assert (reply.low, reply.ceiling) == (pytest.approx(model.low), pytest.approx(model.ceiling))
            assert reply.since_us / 1e6 == pytest.approx(model.since, abs=1e-6)
        assert model.decreases >= 3 and model.below  # the sequence went through every branch
    finally:
        await limiter.aclose()
