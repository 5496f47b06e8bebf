"""The rate limiter against real gateways on loopback (issue 19): nginx ``limit_req`` (no burst, ``burst=5``,
``burst=20 nodelay``) and HAProxy (``sc_http_req_rate(1s) gt 20`` -> 429), all admitting 20 requests per
second, 100 ids at concurrency 16, counted at the gateway (its own log) and in the store.

* with the gateway's burst declared (as the docs read it: nginx ``burst=0`` -> 1, ``burst=B`` -> B, HAProxy
  -> 1): every id stored once, at most 2 rejections per 100 requests, at least 0.9 of the gateway's rate;
* with only N and T declared (the defaults): at least 0.8 of the rate, at most 5 % rejected, nothing lost;
* 40/s declared against 20/s: the pace converges (at least 0.8 of 20/s over the last half of a 10 s run)
  and the rejections stop.

Before issue 19 (``benchmarks/gateways.py`` on that commit) nginx without burst answered 322 x 429 to the
same run (0.05 of its rate, 46 ids lost), HAProxy 32 (0.48), nginx ``burst=5`` 16 (0.51).

The figures are behaviour checks with margins, not timing targets (those are in ``benchmarks/gateways.py``).
A gateway that meters with no tolerance at all (nginx without ``burst``) rejects a request that reaches it
a few ms early, and on a loaded 2-core box the gateway itself can be descheduled long enough to see one
so: a check that fails is run once more (``_twice``) before it counts, and says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from tests.support.gateways import (
    CONFIGS,
    NGINX,
    Gateway,
    GatewayConfig,
    GatewayRun,
    fetch_through,
    gateway_or_skip,
)

pytestmark = pytest.mark.integration

MODES = ("strict", "bucket")
IDS = 100


@pytest.fixture(scope="module")
def gateways() -> Iterator[Callable[[GatewayConfig], Gateway]]:
    """``gateways(config)``: that gateway, started on first use and stopped after the module."""
    with contextlib.ExitStack() as stack:
        running: dict[str, Gateway] = {}

        def get(config: GatewayConfig) -> Gateway:
            if config.name not in running:
                running[config.name] = stack.enter_context(gateway_or_skip(config))
            return running[config.name]

        yield get


async def _twice(run: Callable[[], Awaitable[GatewayRun]], check: Callable[[GatewayRun], Any]) -> GatewayRun:
    """``check(await run())``; when it fails, once more with a fresh run (see the module docstring)."""
    first = await run()
    try:
        check(first)
        return first
    except AssertionError as failure:
        print(f"first run missed ({failure}); running again: {first.summary()}")
    second = await run()
    check(second)
    return second


def _nothing_lost(run: GatewayRun) -> None:
    assert run.failed == 0, run.summary()
    assert sorted(run.stored_ids) == list(range(IDS)), "every id stored exactly once"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
async def test_with_the_gateways_burst_declared(gateways, config, mode):
    gateway = gateways(config)
    rate = Ratelimit(config.rate, timedelta(seconds=1), mode=mode, burst=config.matching_burst)

    def check(run: GatewayRun) -> None:
        _nothing_lost(run)
        assert run.rejections <= 2 * IDS // 100, run.summary()
        assert run.delivered >= 0.9, run.summary()

    await _twice(lambda: fetch_through(gateway, rate, ids=IDS, concurrency=16), check)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
async def test_with_only_the_rate_declared(gateways, config, mode):
    gateway = gateways(config)
    rate = Ratelimit(config.rate, timedelta(seconds=1), mode=mode)

    def check(run: GatewayRun) -> None:
        _nothing_lost(run)
        assert run.rejections <= 0.05 * run.attempts, run.summary()
        assert run.delivered >= 0.8, run.summary()

    await _twice(lambda: fetch_through(gateway, rate, ids=IDS, concurrency=16), check)


async def test_a_quota_declared_twice_too_high_converges_and_the_rejections_stop(gateways):
    gateway = gateways(NGINX)  # the strictest meter: no burst at all
    seconds = 10.0

    def check(run: GatewayRun) -> None:
        assert run.failed == 0 and len(set(run.stored_ids)) == run.succeeded, run.summary()
        first, last = run.rejections_between(0, seconds / 2), run.rejections_between(seconds / 2, seconds + 5)
        assert first > 0, "40/s against 20/s: rejected at first"
        assert last <= 2 and last < first, f"rejections kept coming: {first} then {last}"
        assert run.delivered_between(seconds / 2, seconds) >= 0.8, run.summary()
        assert run.report.effective_rate_min < 20

    await _twice(
        lambda: fetch_through(gateway, Ratelimit(40, timedelta(seconds=1)), ids=1000, seconds=seconds), check
    )
