"""The shared budget when Redis loses some or all of its state (issue 21), each scenario against a fresh
``redis-server`` and the demo API (which logs every arrival): a budget lost between two tasks (restart,
FLUSHALL, FLUSHDB) starts *used*, never free; a truly new key starts free when the server proves it (up
longer than a period + a lease, no flush, no eviction of keys without a TTL) and costs one period
otherwise; a budget whose keys expired unused starts free; any key of a budget deleted mid-run (what an
eviction does) is repaired within a period + a lease, the bound held throughout. Connection faults (a hung
Redis, the redis-py floor, the eviction policy) are in ``test_shared_ratelimit_hangs.py``."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from airflow_provider_bulk_uploader.testing import DemoAPI, max_in_window
from tests.support.redis import RedisServer, redis_or_skip
from tests.support.shared_limit import arrivals, budget_key, fetch_through

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(180)]

#: attempt timeout and lease margin of every limiter here: a lease of 1.5 s
TIMEOUT, MARGIN = 1.0, 0.5
LEASE = TIMEOUT + MARGIN
FAMILY = ("ready", "held", "owner", "pause", "meta", "clients", "waiting", "wants", "pace")


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A redis-server of its own for each scenario (uptime starts at 0)."""
    with redis_or_skip() as server:
        yield server


def _limiter(server: RedisServer, key: str, rate: Ratelimit, **kwargs: Any) -> RedisLimiter:
    return RedisLimiter(rate, server.url, key, attempt_timeout=TIMEOUT, lease_margin=MARGIN, **kwargs)


def _start_processes(
    server: RedisServer, demo: DemoAPI, key: str, rate: Ratelimit, processes: int, per_process: int
) -> list[asyncio.Future[Any]]:
    """``processes`` runs on one key, each with its own limiter (as processes have), ``per_process`` URLs
    each, tagged ``p=<index>`` for :func:`arrivals`."""
    return [
        asyncio.ensure_future(
            fetch_through(
                _limiter(server, key, rate),
                [f"{demo.url}/items/{p * 1000 + i}?p={p}" for i in range(per_process)],
                concurrency=8,
            )
        )
        for p in range(processes)
    ]


async def _delete_parts(server: RedisServer, key: str, parts: tuple[str, ...]) -> None:
    """Delete these parts of the budget's key family (as an eviction or a hand-made ``DEL`` would)."""
    names = [f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:{part}" for part in parts]
    await asyncio.to_thread(server.client().delete, *names)


def _wait_for_uptime(server: RedisServer, seconds: float) -> None:
    deadline = time.monotonic() + seconds + 5
    while server.client().info("server")["uptime_in_seconds"] < seconds:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def _within_bucket_bound(times: list[float], n: int, period: float) -> None:
    """A token bucket of N per period (GCRA) allows at most N + N·w/T arrivals in any window w."""
    for window in (period / 4, period / 2, period):
        busiest = max_in_window(times, window)
        assert busiest <= n + math.ceil(n * window / period), (window, busiest)


# ---- a budget lost between two tasks --------------------------------------------------------------------

LOSSES = {
    "restart": lambda server: server.restart(),
    "flushall": lambda server: server.client().flushall(),
    "flushdb": lambda server: server.client().flushdb(),
}


@pytest.mark.parametrize("mode", ["strict", "bucket"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
async def test_a_budget_lost_between_two_tasks_starts_used_not_free(fresh_redis, demo, request, loss, mode):
    n, period = 20, 2.0
    # burst=n: all N at once, the way a lost budget could let 2N through in one window
    rate, key = Ratelimit(n, timedelta(seconds=period), mode=mode, burst=n), budget_key(request)
    report, _ = await fetch_through(
        _limiter(fresh_redis, key, rate), [f"{demo.url}/items/{i}?p=a" for i in range(n)]
    )
    assert report.succeeded == n
    await asyncio.to_thread(LOSSES[loss], fresh_redis)
    first = arrivals(demo, "a")
    await asyncio.sleep(max(0.0, first[-1] + 0.3 - time.monotonic()))  # B starts 0.3 s after A's last request
    # task B: a new process (a new limiter) that never saw the budget
    report, _ = await fetch_through(
        _limiter(fresh_redis, key, rate), [f"{demo.url}/items/{i}?p=b" for i in range(n)]
    )
    assert report.succeeded == n
    seen = arrivals(demo, "a", "b")
    print(f"{loss} {mode}: max in one period {max_in_window(seen, period)} of {n}")
    if mode == "strict":
        assert max_in_window(seen, period) <= n
    else:
        _within_bucket_bound(seen, n, period)


# ---- a new key: free when the server proves it, one period otherwise ------------------------------------


@pytest.mark.parametrize("mode", ["strict", "bucket"])
async def test_a_new_key_starts_free_on_a_server_up_longer_than_a_period_and_a_lease(
    fresh_redis, demo, request, mode
):
    n, period = 20, 2.0
    await asyncio.to_thread(_wait_for_uptime, fresh_redis, period + LEASE + 1)
    started = time.monotonic()
    rate = Ratelimit(n, timedelta(seconds=period), mode=mode, burst=n)  # free: all N at once
    report, _ = await fetch_through(
        _limiter(fresh_redis, budget_key(request), rate), [f"{demo.url}/items/{i}?p=a" for i in range(n)]
    )
    seen = arrivals(demo, "a")
    assert report.succeeded == n
    first, last = seen[0] - started, seen[-1] - started
    print(f"{mode}: first request {first:.3f} s after the start, all {n} in {last:.3f} s")
    assert seen[-1] - started < period / 2  # the whole burst at once: no period of waiting


@pytest.mark.parametrize("mode", ["strict", "bucket"])
async def test_a_new_key_on_a_server_that_just_started_waits_one_period_then_is_free(
    fresh_redis, demo, request, mode
):
    # the cost of not knowing: a server up for less than a period + a lease may have just lost this budget
    n, period = 20, 2.0
    started = time.monotonic()
    rate = Ratelimit(n, timedelta(seconds=period), mode=mode, burst=n)  # free: all N at once
    report, _ = await fetch_through(
        _limiter(fresh_redis, budget_key(request), rate), [f"{demo.url}/items/{i}?p=a" for i in range(n)]
    )
    seen = arrivals(demo, "a")
    assert report.succeeded == n
    first, last = seen[0] - started, seen[-1] - started
    print(f"{mode}: first request {first:.3f} s after the start, all {n} in {last:.3f} s")
    if mode == "strict":
        assert period - 0.1 <= seen[0] - started <= period + 0.6  # every slot used: one period
        assert max_in_window(seen, 0.3) == n  # then the whole budget at once
    else:
        # an empty bucket: no burst, one token every period / n from the start
        assert seen[0] - started >= period / n - 0.02
        assert max_in_window(seen, period / 2) <= n / 2 + 1


@pytest.mark.parametrize("mode", ["strict", "bucket"])
async def test_a_budget_whose_keys_expired_unused_starts_free(fresh_redis, demo, request, mode):
    n, period = 20, 2.0
    rate, key = (
        Ratelimit(n, timedelta(seconds=period), mode=mode, burst=n),
        budget_key(request),
    )  # all at once
    await fetch_through(_limiter(fresh_redis, key, rate), [f"{demo.url}/items/{i}?p=a" for i in range(n)])
    await asyncio.sleep(period + LEASE + 0.5)
    client = fresh_redis.client()
    family = [f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:{part}" for part in (*FAMILY, "tat")]
    expiring = [name for name in family if client.pttl(name) > 0]
    assert expiring
    client.delete(*expiring)  # what their expiry would do (their TTL is at least 60 s)
    started = time.monotonic()
    report, _ = await fetch_through(
        _limiter(fresh_redis, key, rate), [f"{demo.url}/items/{i}?p=b" for i in range(n)]
    )
    seen = arrivals(demo, "b")
    assert report.succeeded == n
    assert seen[-1] - started < period / 2  # unused for longer than a period + a lease: all free


# ---- any key of a budget deleted mid-run (eviction) ------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [(part,) for part in FAMILY] + [("ready", "held", "owner"), ("ready", "held", "owner", "meta")],
    ids="+".join,
)
async def test_a_key_of_the_budget_deleted_mid_run_is_repaired_within_a_period_and_a_lease(
    fresh_redis, demo, request, parts
):
    n, period, per_process, processes = 10, 0.5, 40, 3
    rate, key = Ratelimit(n, timedelta(seconds=period)), budget_key(request)
    runs = _start_processes(fresh_redis, demo, key, rate, processes, per_process)
    await asyncio.sleep(1.5)
    deleted_at = time.monotonic()
    await _delete_parts(fresh_redis, key, parts)
    done, pending = await asyncio.wait(runs, timeout=30)
    for run in pending:
        run.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    seen = arrivals(demo, *map(str, range(processes)))
    back = deleted_at + period + LEASE
    after = [t for t in seen if back <= t < back + 1.0]
    print(
        f"{'+'.join(parts)}: max in window {max_in_window(seen, period)} of {n}; "
        f"{len(after)} arrivals in the second after a period + a lease (full budget: {2 * n})"
    )
    assert max_in_window(seen, period) <= n  # the bound held throughout
    assert len(after) >= 0.75 * n / period  # the whole budget back (at least 15 of the 20 it allows)
    assert not pending and all(run.result()[0].succeeded == per_process for run in done)


@pytest.mark.parametrize("parts", [("tat",), ("tat", "meta")], ids="+".join)
async def test_a_shared_bucket_deleted_mid_run_keeps_the_bucket_bound(fresh_redis, demo, request, parts):
    n, period, per_process, processes = 10, 0.5, 30, 3
    rate, key = Ratelimit(n, timedelta(seconds=period), mode="bucket"), budget_key(request)
    runs = _start_processes(fresh_redis, demo, key, rate, processes, per_process)
    await asyncio.sleep(1.5)
    await _delete_parts(fresh_redis, key, parts)
    results = await asyncio.wait_for(asyncio.gather(*runs), 30)
    assert [r[0].succeeded for r in results] == [per_process] * processes
    _within_bucket_bound(arrivals(demo, *map(str, range(processes))), n, period)
