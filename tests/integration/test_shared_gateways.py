"""The shared budget against a real gateway (issue 19.4): three engine processes, each its own OS process
with its own Redis client, on one key in a real ``redis-server``, against nginx ``limit_req rate=20r/s``
without ``burst`` (the strictest meter: one request per 50 ms, a sooner one is rejected), all on one meter
(one ``X-Meter-Key``, as one API key would be), counted at the gateway (its log) and in the stores:

* the rate declared equal to the gateway's, defaults otherwise (burst 1, adaptive): at least 0.8 of the
  rate, at most 5 % rejected, every id stored once;
* declared twice too high (40/s): the shared pace comes down and the rejections stop growing in the last
  part of the run (every process follows the pace lowered by whichever saw the 429s).

Before (main at 0ed3465: the shared budget let each window's slots go at once, 20 back to back), measured on a
shared 2-core box: at 20/s, 414 of 446 requests rejected, 68 of 100 ids failed, 0.05 of the rate delivered
(bucket mode alike); at 40/s, 241 of 261 rejected and no process ever paced below 40/s. Behaviour checks with
margins, not timing targets; like ``test_gateways.py``, a check that fails is run once more before it counts
(a loaded 2-core box can deschedule the gateway itself long enough for a request to reach it a few ms
early)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.gateways import NGINX, Gateway, GatewayRun, gateway_or_skip
from tests.support.redis import RedisServer, redis_or_skip
from tests.support.shared_gateway import shared_run
from tests.support.shared_limit import mark_unused

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(300)]

PROCESSES, IDS = 3, 100


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with redis_or_skip() as server:
        yield server


@pytest.fixture(scope="module")
def nginx() -> Iterator[Gateway]:
    with gateway_or_skip(NGINX) as gateway:
        yield gateway


def _twice(run: Callable[[], GatewayRun], check: Callable[[GatewayRun], Any]) -> GatewayRun:
    first = run()
    try:
        check(first)
        return first
    except AssertionError as failure:
        print(f"first run missed ({failure}); running again: {first.summary()}")
    second = run()
    check(second)
    return second


def _run(server: RedisServer, gateway: Gateway, rate: dict[str, Any], **kwargs: Any) -> GatewayRun:
    key = f"gateway-{time.monotonic_ns()}"
    mark_unused(server.client(), key, rate["n"] if rate.get("mode", "strict") == "strict" else None)
    run = shared_run(gateway, server.url, key, rate, processes=PROCESSES, **kwargs)
    print(f"{rate}: {run.summary()}; lowest pace per process {[r['lowest_rate'] for r in run.report]}")
    return run


@pytest.mark.parametrize("mode", ["strict", "bucket"])
def test_processes_sharing_a_key_at_the_gateways_rate_are_not_rejected(redis_server, nginx, mode):
    rate = {"n": NGINX.rate, "period": 1.0, "mode": mode}

    def check(run: GatewayRun) -> None:
        assert run.failed == 0, run.summary()
        assert sorted(run.stored_ids) == list(range(IDS)), "every id stored exactly once"
        assert run.rejections <= 0.05 * run.attempts, run.summary()
        assert run.delivered >= 0.8, run.summary()

    _twice(lambda: _run(redis_server, nginx, rate, ids=IDS), check)


def test_processes_sharing_a_quota_declared_twice_too_high_converge(redis_server, nginx):
    seconds = 10.0
    rate = {"n": 2 * NGINX.rate, "period": 1.0}

    def check(run: GatewayRun) -> None:
        assert run.failed == 0 and len(set(run.stored_ids)) == run.succeeded, run.summary()
        first, last = run.rejections_between(0, seconds / 2), run.rejections_between(seconds / 2, seconds + 5)
        print(f"429s: {first} in the first half, {last} in the second")
        assert first > 0, "40/s against 20/s: rejected at first"
        assert last <= 3 and last < first, f"rejections kept coming: {first} then {last}"
        assert run.delivered_between(seconds / 2, seconds) >= 0.8, run.summary()
        # every process paced below the gateway's rate at some point, whether or not it saw a 429 itself
        assert all(r["lowest_rate"] < NGINX.rate for r in run.report), run.report

    _twice(lambda: _run(redis_server, nginx, rate, ids=1000, seconds=seconds), check)
