"""Paced sends with a declared burst (GCRA), in both modes, on a virtual clock: the emission interval, the
burst, concurrency independent of the burst, resuming paced after a pause, and the adaptation (AIMD) —
the controller alone, in a limiter, and the whole engine against a respx "gateway" that meters like nginx's
``limit_req`` (issue 19)."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import timedelta
from itertools import pairwise

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.adaptive import AdaptiveRate
from airflow_provider_bulk_uploader.engine.ratelimit import (
    AdaptiveLimiter,
    BucketLimiter,
    Limiter,
    SlotLimiter,
    new_limiter,
)
from airflow_provider_bulk_uploader.engine.retries import CoolDown
from airflow_provider_bulk_uploader.testing import max_in_window

from .conftest import fast_policy
from .virtual_clock import run_virtual

MODES = ("strict", "bucket")


async def _grants(limiter, n_requests: int, workers: int, latency: float) -> tuple[list[float], int]:
    """Grant times of ``n_requests`` requests by ``workers`` workers, each holding its request ``latency``;
    and the most requests in flight at once."""
    loop = asyncio.get_running_loop()
    granted: list[float] = []
    remaining = iter(range(n_requests))
    in_flight = peak = 0

    async def worker() -> None:
        nonlocal in_flight, peak
        for _ in remaining:
            ticket = await limiter.acquire()
            granted.append(loop.time())
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(latency)
            in_flight -= 1
            limiter.release(ticket)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return granted, peak


# ---- Ratelimit: the settings -------------------------------------------------------------------------


def test_burst_defaults_to_a_small_paced_burst_and_is_validated_naming_the_value():
    assert Ratelimit(20).effective_burst == min(20, defaults.RATE_LIMIT_BURST)
    assert Ratelimit(20, burst=5).effective_burst == 5
    assert Ratelimit(20).emission_interval == pytest.approx(0.05)
    assert Ratelimit(20).adaptive is True
    # above 1000/s the loop's millisecond timers could not space sends finer: one millisecond's worth
    assert Ratelimit(5000).effective_burst == 5 and Ratelimit(10**6).effective_burst == 1000
    assert Ratelimit(2000, timedelta(seconds=2)).effective_burst == 1
    assert Ratelimit(200, mode="bucket", burst=5000).effective_burst == 5000  # AWS: rate 200, burst 5000
    with pytest.raises(ValueError, match=r"Ratelimit burst must be an int >= 1.*got 0"):
        Ratelimit(20, burst=0)
    with pytest.raises(TypeError, match=r"Ratelimit burst must be an int.*got '5'"):
        Ratelimit(20, burst="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"<= num_requests \(20\) in strict mode.*got burst=30"):
        Ratelimit(20, burst=30)
    with pytest.raises(TypeError, match=r"Ratelimit adaptive must be True or False, got str 'no'"):
        Ratelimit(20, adaptive="no")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Ratelimit(20, timedelta(seconds=1), "bucket")  # type: ignore[misc]  # mode is keyword-only


def test_both_limiters_implement_both_interfaces():
    for mode in MODES:
        limiter = new_limiter(Ratelimit(10, mode=mode))
        assert isinstance(limiter, Limiter) and isinstance(limiter, AdaptiveLimiter)


# ---- pacing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_burst_of_b_then_one_request_every_emission_interval(mode):
    rate = Ratelimit(10, timedelta(seconds=1), mode=mode, burst=3)
    granted, _ = run_virtual(_grants(new_limiter(rate), 20, workers=20, latency=0.001))
    assert granted[:3] == [0.0, 0.0, 0.0]
    gaps = [b - a for a, b in pairwise(granted[2:])]
    assert gaps[:7] == [pytest.approx(0.1)] * 7  # period / num_requests
    if mode == "bucket":
        assert gaps[7:] == [pytest.approx(0.1)] * 10
    else:  # the window binds too: the 11th waits for the first slot, free a period after its response
        assert granted[10] == pytest.approx(1.001) and max_in_window(granted, 1.0) == 10


@pytest.mark.parametrize("mode", MODES)
def test_burst_one_spaces_every_request(mode):
    limiter = new_limiter(Ratelimit(20, mode=mode, burst=1))
    granted, _ = run_virtual(_grants(limiter, 40, workers=16, latency=0.001))
    gaps = [b - a for a, b in pairwise(granted)]
    assert min(gaps) == pytest.approx(0.05)


@pytest.mark.parametrize("mode", MODES)
def test_concurrency_does_not_depend_on_the_burst(mode):
    # burst 1 at 200 ms latency and 20/s: a request leaves every 50 ms while 4 are still on their way
    limiter = new_limiter(Ratelimit(20, mode=mode, burst=1))
    granted, peak = run_virtual(_grants(limiter, 60, workers=16, latency=0.2))
    assert peak >= 4
    assert min(b - a for a, b in pairwise(granted)) == pytest.approx(0.05)


@pytest.mark.parametrize("latency", [0.001, 0.3])
def test_strict_keeps_its_window_guarantee_as_well_as_the_pace(latency):
    rate = Ratelimit(10, timedelta(seconds=1), burst=4)
    granted, _ = run_virtual(_grants(SlotLimiter(rate), 100, workers=32, latency=latency))
    assert max_in_window(granted, 1.0) <= 10
    assert granted[:4] == [0.0] * 4 and granted[4] == pytest.approx(0.1)


def test_bucket_capacity_is_the_burst():
    # a bucket of 5 refilled at 10/s: after 2 s idle the whole burst (5, not 10 or 20) leaves at once
    async def scenario():
        limiter = BucketLimiter(Ratelimit(10, mode="bucket", burst=5))
        loop = asyncio.get_running_loop()
        await asyncio.sleep(2.0)
        times = []
        for _ in range(8):
            await limiter.acquire()
            times.append(loop.time())
        return times

    times = run_virtual(scenario())
    assert times[:5] == [pytest.approx(2.0)] * 5
    assert times[5:] == [pytest.approx(2.1), pytest.approx(2.2), pytest.approx(2.3)]


@pytest.mark.parametrize("mode", MODES)
def test_after_a_pause_requests_resume_paced_not_all_at_once(mode):
    """A pause (429, Retry-After, shared cool-down) must not end in a burst of every waiter (issue 19)."""

    async def scenario():
        limiter = new_limiter(Ratelimit(20, mode=mode, burst=5, adaptive=False))
        loop = asyncio.get_running_loop()
        granted: list[float] = []

        async def one() -> None:
            ticket = await limiter.acquire()
            granted.append(loop.time())
            await asyncio.sleep(0.01)
            limiter.release(ticket)

        await asyncio.sleep(5.0)  # the whole burst credit is there
        limiter.pause(1.0)
        await asyncio.gather(*(one() for _ in range(12)))
        return granted

    granted = run_virtual(scenario())
    assert granted[0] == pytest.approx(6.0)  # nobody during the pause
    gaps = [b - a for a, b in pairwise(granted)]
    assert gaps == [pytest.approx(0.05)] * 11  # one per emission interval from the end of the pause


def test_free_again_at_includes_the_pace():
    async def scenario():
        limiter = BucketLimiter(Ratelimit(10, mode="bucket", burst=2))
        for _ in range(4):
            await limiter.acquire()
        return limiter.free_again_at(), asyncio.get_running_loop().time()

    free_at, now = run_virtual(scenario())
    # 4 sends: 2 at 0, then 0.1, 0.2; a fresh bucket starting before 0.4 could send 2 more at once, which
    # this one would not have allowed (at 0.3 it allows one)
    assert now == pytest.approx(0.2) and free_at == pytest.approx(0.4)


# ---- adaptation: the controller -------------------------------------------------------------------------


def test_aimd_lowers_multiplicatively_and_climbs_back_additively():
    beta, step = defaults.ADAPTIVE_DECREASE_FACTOR, defaults.ADAPTIVE_RECOVERY_PER_SECOND * 40
    probe, hold = defaults.ADAPTIVE_PROBE_PER_SECOND * 40, defaults.ADAPTIVE_PROBE_AFTER_SECONDS
    a = AdaptiveRate(40.0, 10)
    assert a.rate_at(0.0) == 40.0 and not a.lowered
    assert a.on_rejection(now=1.0, sent_at=0.9)
    assert a.rate_at(1.0) == pytest.approx(40 * beta)  # 28
    assert a.burst_at(1.0) == int(10 * beta)  # 7
    # in flight before the decrease: the same signal, not lowered twice
    assert not a.on_rejection(now=1.01, sent_at=0.95)
    # climbing additively, by ADAPTIVE_RECOVERY_PER_SECOND of the declared rate per second ...
    assert a.rate_at(1.1) == pytest.approx(28 + 0.1 * step)
    # ... rejected on the way up (at 30/s): the climb goes back there quickly, then probes beyond it slowly
    assert a.on_rejection(now=1.05, sent_at=1.04)
    assert a.rate_at(1.05) == pytest.approx(30 * beta) and a.target == pytest.approx(30)
    back = 1.05 + (30 - 30 * beta) / step
    assert a.rate_at(back) == pytest.approx(30.0)
    assert a.rate_at(back + 1.0) == pytest.approx(30.0 + probe)
    # ... rejected again beyond it: the limit is there; the climb now holds just below it ...
    now = back + 1.0
    assert a.on_rejection(now=now, sent_at=now - 0.01)
    target = (30.0 + probe) * (1 - defaults.ADAPTIVE_MARGIN)
    assert a.below and a.target == pytest.approx(target)
    reached = now + (target - a.low) / step
    assert a.rate_at(reached + 1.0) == pytest.approx(target)
    assert a.rate_at(reached + hold) == pytest.approx(target)
    # ... for ADAPTIVE_PROBE_AFTER_SECONDS, then probes toward the declared rate, never above it, and the
    # burst comes back there
    assert a.rate_at(reached + hold + 1.0) == pytest.approx(target + probe)
    assert a.burst_at(reached + hold + 1.0) < 10
    assert a.rate_at(10_000.0) == 40.0 and a.burst_at(10_000.0) == 10
    assert a.lowest == pytest.approx(30 * beta) and a.decreases == 3


def test_one_unlucky_rejection_costs_a_dip_not_the_rest_of_the_run():
    """A request that met a busy server (or a new connection) is rejected once at the declared rate: the
    pace dips and is back at the declared rate within 1 / ADAPTIVE_RECOVERY_PER_SECOND x 0.3 seconds."""
    a = AdaptiveRate(20.0, 1)
    assert a.on_rejection(now=1.0, sent_at=0.99)
    back = 1.0 + (1 - defaults.ADAPTIVE_DECREASE_FACTOR) / defaults.ADAPTIVE_RECOVERY_PER_SECOND
    assert a.rate_at(back - 0.01) < 20.0 and a.rate_at(back) == pytest.approx(20.0)


def test_aimd_never_goes_below_its_floor():
    a = AdaptiveRate(10.0, 1)
    t = 0.0
    for _ in range(50):
        t += 0.01
        a.on_rejection(now=t, sent_at=t)
    assert a.rate_at(t) == pytest.approx(10.0 * defaults.ADAPTIVE_MIN_RATE_FRACTION)
    assert a.burst_at(t) == 1


# ---- adaptation: in a limiter -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_rejection_lowers_the_pace_and_takes_back_the_burst(mode):
    async def scenario():
        loop = asyncio.get_running_loop()
        limiter = new_limiter(Ratelimit(20, mode=mode, burst=5))
        await asyncio.sleep(1.0)
        sent = loop.time()
        lowered = limiter.on_rejection(sent, 429)
        again = limiter.on_rejection(sent, 429)  # the same reaction
        granted = []
        for _ in range(4):
            ticket = await limiter.acquire()
            granted.append(loop.time())
            limiter.release(ticket)
        return lowered, again, granted, limiter.lowest_rate

    lowered, again, granted, lowest = run_virtual(scenario())
    assert lowered == pytest.approx(14.0) and again is None and lowest == pytest.approx(14.0)
    # no burst left (its credit was 5): the first one interval at the new pace later, then paced
    assert granted[0] == pytest.approx(1.0 + 1 / 14, abs=1e-3)
    gaps = [b - a for a, b in pairwise(granted)]
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 1 / 18 and gaps[-1] > 1 / 20  # climbing back


def test_without_adaptation_a_rejection_changes_nothing():
    async def scenario():
        limiter = SlotLimiter(Ratelimit(20, adaptive=False))
        return limiter.on_rejection(0.0, 429), limiter.effective_rate

    assert run_virtual(scenario()) == (None, pytest.approx(20.0))


def test_set_rate_is_bounded_by_the_declared_rate_and_burst():
    async def scenario():
        limiter = BucketLimiter(Ratelimit(20, mode="bucket", burst=4))
        limiter.set_rate(5, 2)
        low = limiter.effective_rate
        limiter.set_rate(500, 100)
        return low, limiter.effective_rate, limiter.lowest_rate

    assert run_virtual(scenario()) == (pytest.approx(5.0), pytest.approx(20.0), pytest.approx(5.0))


# ---- the cool-down: a second 429 is a signal, not a second pause ------------------------------------


def test_a_429_in_flight_when_the_pause_began_does_not_pause_again():
    async def scenario():
        loop = asyncio.get_running_loop()
        cooldown = CoolDown()
        await asyncio.sleep(1.0)
        first = cooldown.after_rejection(429, None, sent_at=0.99, adapting=False)
        await asyncio.sleep(0.5)
        in_flight = cooldown.after_rejection(429, None, sent_at=0.995, adapting=False)
        left = cooldown.remaining()
        await asyncio.sleep(1.0)
        later = cooldown.after_rejection(429, None, sent_at=loop.time() - 0.01, adapting=False)
        told = cooldown.after_rejection(429, 2.0, sent_at=0.0, adapting=True)  # Retry-After: always
        adapting = cooldown.after_rejection(429, None, sent_at=loop.time(), adapting=True)
        error_503 = cooldown.after_rejection(503, None, sent_at=loop.time(), adapting=False)
        return first, in_flight, left, later, told, adapting, error_503

    first, in_flight, left, later, told, adapting, error_503 = run_virtual(scenario())
    assert first == defaults.PAUSE_AFTER_429_SECONDS
    assert in_flight is None and left == pytest.approx(0.5)
    assert later == defaults.PAUSE_AFTER_429_SECONDS  # sent after the pause: a new signal
    assert told == 2.0
    assert adapting is None and error_503 is None


# ---- the whole engine against a metering "gateway" (respx, virtual clock) -----------------------------


class _Meter:
    """nginx ``limit_req rate=R burst=B nodelay`` as GCRA at arrival: a request is rejected when it comes
    sooner than ``now >= tat - B/R``; HAProxy-like meters are exercised against the real thing in
    tests/integration/test_gateways.py."""

    def __init__(self, rate: float, burst: int = 0, latency: float = 0.002) -> None:
        self.interval, self.tolerance = 1.0 / rate, burst / rate
        self.latency = latency
        self.tat = -math.inf
        self.accepted: list[float] = []
        self.rejected: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        now = asyncio.get_running_loop().time()
        if now < self.tat - self.tolerance - 1e-9:
            self.rejected.append(now)
            status = 429
        else:
            self.tat = max(self.tat, now) + self.interval
            self.accepted.append(now)
            status = 200
        await asyncio.sleep(self.latency)  # a response takes time: the workers' requests overlap
        return httpx.Response(status, json={"path": request.url.path})


def _run_through(meter: _Meter, rate: Ratelimit, n: int = 100, **kwargs):
    async def scenario():
        with respx.mock:
            respx.get(url__startswith="https://api.test/").mock(side_effect=meter)
            store = ListStore()
            report = await UploadedData(
                store,
                url_maker=[f"https://api.test/items/{i}" for i in range(n)],
                rate_limit=rate,
                max_concurrency=16,
                http_backend="httpx",
                progress_interval=0,
                **kwargs,
            ).run()
            return report, store, asyncio.get_running_loop().time()

    return run_virtual(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_the_defaults_pass_an_nginx_limit_without_burst(mode):
    """Regression (issue 19): N at once per window drew ~3 429s per accepted request from nginx
    ``limit_req rate=20r/s`` without ``burst``; paced sends draw none."""
    meter = _Meter(20)
    report, store, elapsed = _run_through(meter, Ratelimit(20, mode=mode))
    assert report.succeeded == 100 and len(store.saved_data()) == 100
    assert report.rejections == len(meter.rejected) == 0
    assert elapsed == pytest.approx(99 / 20, rel=0.02)


@pytest.mark.parametrize("mode", MODES)
def test_all_at_once_draws_429s_once_and_the_pause_ends_paced(mode):
    """burst=num_requests, adaptive=False: every worker leaves at once (15 of 16 rejected by nginx without
    burst) and the 429 pauses everyone for the fixed second. Regression (issue 19): when that pause ended
    every waiter left together again — the same burst, the same 429s, ~1 accepted request per second; now
    they resume one emission interval apart and nothing more is rejected."""
    meter = _Meter(20)
    report, _store, elapsed = _run_through(
        meter, Ratelimit(20, mode=mode, burst=20, adaptive=False), retry_policy=fast_policy(10)
    )
    assert report.succeeded == 100 and report.failed == 0
    assert report.rejections == len(meter.rejected) <= 16
    assert max(meter.rejected) < 0.01  # all in the first burst
    assert report.effective_rate_min == pytest.approx(20.0)  # adaptive=False: never lowered
    assert elapsed < 1.0 + 100 / 20 + 0.1


@pytest.mark.parametrize("mode", MODES)
def test_a_declared_burst_that_matches_the_gateway_uses_it(mode):
    meter = _Meter(20, burst=10)  # nginx burst=10 nodelay: 11 back to back, then 20/s
    report, _store, elapsed = _run_through(meter, Ratelimit(20, mode=mode, burst=10))
    assert report.succeeded == 100 and report.rejections == 0
    assert elapsed == pytest.approx(90 / 20, rel=0.02)


@pytest.mark.parametrize("mode", MODES)
def test_a_quota_declared_twice_too_high_converges_and_the_rejections_stop(mode, caplog):
    meter = _Meter(20)
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_bulk_uploader"):
        report, store, elapsed = _run_through(
            meter, Ratelimit(40, mode=mode), n=200, retry_policy=fast_policy(8)
        )
    assert report.succeeded == 200 and report.failed == 0 and len(store.saved_data()) == 200
    assert 9.5 < elapsed < 13  # about a 10 s run
    half = elapsed / 2
    assert not [t for t in meter.rejected if t >= half], meter.rejected  # the rejections stopped
    last_half = [t for t in meter.accepted if t >= half]
    assert len(last_half) / (elapsed - half) >= 0.8 * 20
    assert report.rejections == len(meter.rejected) > 0
    assert report.effective_rate_min is not None and report.effective_rate_min < 20
    lowered = [r for r in caplog.records if r.getMessage().startswith("rate lowered to")]
    assert [r.levelno for r in lowered][:1] == [logging.WARNING]
    assert all(r.levelno == logging.DEBUG for r in lowered[1:])
    assert lowered[0].getMessage().startswith("rate lowered to 28.0/s after 429s from api.test")
    summary = report.to_dict()
    assert summary["rejections"] == report.rejections
    assert summary["effective_rate_min"] == round(report.effective_rate_min, 3)


@pytest.mark.parametrize("mode", MODES)
def test_a_late_answer_delays_the_next_send_by_as_much(mode):
    """At latencies below the interval an answer that comes later than usual says the request reached the
    server late (a new connection, a busy server): the next one is paced from there, not from when it
    left — or a meter without tolerance (nginx without burst) would see the two closer than one interval."""
    # the first opens a connection, then ten usual answers, one that meets a busy server, one usual
    rtts = (0.015, *[0.001] * 10, 0.011, 0.001)

    async def scenario():
        loop = asyncio.get_running_loop()
        limiter = new_limiter(Ratelimit(20, mode=mode, burst=1))
        sent = []
        for rtt in rtts:
            ticket = await limiter.acquire()
            sent.append(loop.time())
            await asyncio.sleep(rtt)
            limiter.release(ticket)
        return sent

    sent = run_virtual(scenario())
    gaps = [b - a for a, b in pairwise(sent)]
    assert gaps[0] == pytest.approx(0.015 + 0.05)  # after the first answer, not after the first send
    assert gaps[1:11] == [pytest.approx(0.05)] * 10  # usual (or early) answers: one interval
    usual = 0.015
    for rtt in rtts[1:11]:
        usual += (rtt - usual) / 8  # the usual round trip is smoothed as TCP's SRTT
    assert gaps[11] == pytest.approx(0.05 + 0.011 - usual)  # as much later than usual as the answer was
