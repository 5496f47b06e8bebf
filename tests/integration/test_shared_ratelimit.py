"""The shared rate limit against a real ``redis-server`` and real OS processes: at most N arrivals in any
window T at the demo API across every process on one key, all URLs fetched, fair shares, leases after
kill -9, Redis restarted or absent, and the shared cool-down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData
from airflow_provider_bulk_uploader.engine.errors import RateLimitBackendError
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from airflow_provider_bulk_uploader.testing import DemoAPI, max_in_window
from tests.support.postgres import free_port
from tests.support.redis import RedisServer, redis_or_skip

pytestmark = [pytest.mark.integration, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with redis_or_skip() as server:
        yield server


def _key(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}-{time.monotonic_ns()}"


def _spawn(spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.shared_worker", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _results(procs: list[subprocess.Popen[str]], timeout: float = 90) -> list[dict[str, Any]]:
    results = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=timeout)
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return results


def _by_process(api: DemoAPI) -> dict[str, list[float]]:
    by: dict[str, list[float]] = {}
    for record in api.requests:
        if "p" in record.query:
            by.setdefault(record.query["p"], []).append(record.arrival)
    return by


def test_processes_sharing_a_key_hold_the_quota_together_fetch_everything_and_share_fairly(
    redis_server, demo, request
):
    k, per_process, n, period = 4, 60, 20, 0.5
    key, start_at = _key(request), time.time() + 3.0
    procs = [
        _spawn(
            dict(
                redis=redis_server.url,
                key=key,
                n=n,
                period=period,
                burst=n,  # all N at once, then one as each slot frees: the window bound is what is tested
                start_at=start_at,
                urls=[f"{demo.url}/items/{p * 1000 + i}?p={p}" for i in range(per_process)],
            )
        )
        for p in range(k)
    ]
    results = _results(procs)
    assert [r.get("succeeded") for r in results] == [per_process] * k, results
    arrivals = list(demo.arrivals)
    assert len(arrivals) == k * per_process  # every URL once, nothing extra
    assert sorted(r.path for r in demo.requests) == sorted(
        f"/items/{p * 1000 + i}" for p in range(k) for i in range(per_process)
    )
    assert max_in_window(arrivals, period) <= n  # the promise, across processes
    # the budget is used: after the first burst, near N / (T + latency)
    rate = (len(arrivals) - n) / (max(arrivals) - min(arrivals))
    assert rate >= 0.85 * n / period, f"{rate:.1f} req/s of {n / period:g}"
    # fairness: while every process still had work, none got less than half of another's share
    by = _by_process(demo)
    lo, hi = min(arrivals) + period, min(max(ts) for ts in by.values())
    shares = [sum(lo <= t < hi for t in ts) for ts in by.values()]
    print(f"max in window {max_in_window(arrivals, period)} of {n}; {rate:.1f} req/s; shares {shares}")
    assert min(shares) >= 0.5 * max(shares), shares
    # one leader per process asks for all its waiters at once: round trips stay in the order of one per
    # acquisition, polls while waiting included (one per waiter and poll would be hundreds of times more)
    assert sum(r["acquire_calls"] for r in results) <= 2 * k * per_process


def test_a_process_killed_while_holding_slots_gives_them_back_after_its_lease(redis_server, demo, request):
    n, period, timeout, margin = 4, 0.5, 1.0, 1.0
    key = _key(request)
    holder = _spawn(
        dict(
            redis=redis_server.url,
            key=key,
            n=n,
            period=period,
            timeout=timeout,
            lease_margin=margin,
            urls=[f"{demo.url}/slow?ms=5000&p=dead&i={i}" for i in range(n)],
        )
    )
    try:
        deadline = time.monotonic() + 30
        while demo.stats.in_flight < n and time.monotonic() < deadline:  # recorded when they end
            time.sleep(0.02)
        assert demo.stats.in_flight == n
        # all n slots held: kill -9 before any response (the /slow answers after 5 s, the timeout is 1 s)
        os.killpg(holder.pid, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(10)
    survivor = _spawn(
        dict(
            redis=redis_server.url,
            key=key,
            n=n,
            period=period,
            urls=[f"{demo.url}/items/{i}?p=live" for i in range(4 * n)],
        )
    )
    [result] = _results([survivor])
    assert result["succeeded"] == 4 * n
    deadline = time.monotonic() + 10
    while demo.stats.in_flight and time.monotonic() < deadline:  # the dead holder's /slow handlers end
        time.sleep(0.05)
    dead = sorted(r.arrival for r in demo.requests if r.query.get("p") == "dead")
    live = sorted(r.arrival for r in demo.requests if r.query.get("p") == "live")
    assert len(dead) == n and killed_at - dead[-1] < timeout  # killed while it held every slot
    # nothing before the dead holder's leases (timeout + margin) ran out and a period passed
    assert live[0] - dead[0] >= timeout + margin + period - 0.05
    # then the full budget again: 4 waves of n, one period apart
    assert live[-1] - live[0] < 3 * period + 1.0
    assert max_in_window(dead + live, period) <= n


async def test_redis_absent_at_start_fails_the_run_naming_the_address():
    port = free_port()  # nothing listens there
    limiter = RedisLimiter(Ratelimit(5), f"redis://:hunter2@127.0.0.1:{port}/3", "k", name="connection 'api'")
    with pytest.raises(RateLimitBackendError) as info:
        await UploadedData(ListStore(), url_maker=["http://127.0.0.1:9/x"], rate_limit=limiter).run()
    message = str(info.value)
    assert f"127.0.0.1:{port}/3" in message and "connection 'api'" in message
    assert "hunter2" not in message


async def test_redis_restarted_mid_run_the_run_goes_on_and_stays_strict(redis_server, demo, request):
    n, period = 10, 0.5
    limiter = RedisLimiter(Ratelimit(n, timedelta(seconds=period)), redis_server.url, _key(request))
    store = ListStore()
    urls = [f"{demo.url}/items/{i}" for i in range(80)]
    run = asyncio.ensure_future(UploadedData(store, url_maker=urls, rate_limit=limiter).run())
    await asyncio.sleep(1.2)
    await asyncio.to_thread(redis_server.restart)  # state lost (no persistence), same address
    report = await asyncio.wait_for(run, 60)
    assert report.succeeded == 80 and len(store.saved_data()) == 80
    arrivals = list(demo.arrivals)
    assert len(arrivals) == 80
    assert max_in_window(arrivals, period) <= n  # the lost state restarts as "used", not as free


async def test_redis_lost_for_good_fails_after_bounded_retries_and_keeps_what_succeeded(
    redis_server, demo, request
):
    n, period = 10, 0.5
    limiter = RedisLimiter(
        Ratelimit(n, timedelta(seconds=period)), redis_server.url, _key(request), retry_seconds=1.0
    )
    store = ListStore()
    urls = [f"{demo.url}/items/{i}" for i in range(100)]
    run = asyncio.ensure_future(UploadedData(store, url_maker=urls, rate_limit=limiter).run())
    await asyncio.sleep(1.2)
    await asyncio.to_thread(redis_server.stop)
    try:
        started = time.monotonic()
        with pytest.raises(RateLimitBackendError, match=rf"lost Redis at 127.0.0.1:{redis_server.port}"):
            await asyncio.wait_for(run, 30)
        assert time.monotonic() - started < 10
    finally:
        await asyncio.to_thread(redis_server.start)
    ok = sum(1 for r in demo.requests if r.status == 200)
    assert 0 < len(store.saved_data()) == ok < 100  # flushed what succeeded before failing


def test_a_429_with_retry_after_seen_by_one_process_pauses_the_others(redis_server, demo, request):
    n, period = 10, 0.5
    key, start_at = _key(request), time.time() + 3.0
    common = dict(redis=redis_server.url, key=key, n=n, period=period, start_at=start_at)
    hit = _spawn(
        dict(common, urls=[f"{demo.url}/flaky/cool?fails=1&status=429&retry_after=2&p=hit"], concurrency=1)
    )
    other = _spawn(dict(common, urls=[f"{demo.url}/items/{i}?p=other" for i in range(40)], concurrency=2))
    results = _results([hit, other])
    assert results[0]["succeeded"] == 1 and results[1]["succeeded"] == 40
    [first_429] = [r.arrival for r in demo.requests if r.status == 429]
    others = sorted(r.arrival for r in demo.requests if r.query.get("p") == "other")
    after = [t for t in others if t > first_429]
    assert after and others[-1] - first_429 >= 1.9  # the others were still fetching when the 429 came
    # the other process sent nothing in the 2 s after the 429 (its requests in flight at that moment aside)
    assert not [t for t in after if first_429 + 0.05 < t < first_429 + 1.95], after[:5]
