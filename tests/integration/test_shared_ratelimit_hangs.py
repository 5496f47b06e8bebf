"""The shared budget when Redis hangs or limits what a client may do (issue 21), against a real
``redis-server`` (with a password) and the demo API: a Redis SIGSTOPped for good ends the task within the
documented bound (``retry_seconds`` after the first call that got no answer), with what succeeded flushed
and no password in any output; SIGSTOPped before the first call, the task fails within the connect +
socket timeouts; SIGSTOPped for 3 s, the run goes on within the bound — each with the locked redis-py and
with the lowest one the package allows (``tests/support/redis_floor.py``). ``maxmemory-policy`` is checked
at start, and a Redis that refuses INFO and CONFIG still works, conservatively."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from airflow_provider_bulk_uploader.testing import max_in_window
from tests.support.redis import RedisServer, redis_or_skip
from tests.support.redis_floor import FloorUnavailable, floor_python
from tests.support.shared_limit import arrivals, budget_key, fetch_through, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "redis-fault-pw-7c1e9a"
#: attempt timeout and lease margin of every limiter here: a lease of 1.5 s
TIMEOUT, MARGIN = 1.0, 0.5


def _limiter(server: RedisServer, key: str, rate: Ratelimit, **kwargs: Any) -> RedisLimiter:
    return RedisLimiter(rate, server.url, key, attempt_timeout=TIMEOUT, lease_margin=MARGIN, **kwargs)


# ---- a Redis that hangs: SIGSTOP, for a moment and for good ---------------------------------------------


def _python(redis_py: str) -> str:
    if redis_py == "locked":
        return sys.executable
    try:
        return str(floor_python()[0])
    except FloorUnavailable as exc:
        pytest.fail(f"cannot build the redis-py floor environment: {exc}")


def _spawn(python: str, spec: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [python, "-m", "tests.support.shared_worker", json.dumps(spec)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str], timeout: float, what: str) -> tuple[dict[str, Any], str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(
            f"{what}: the task was still running after {timeout:.0f} s (killed); stderr: {err[-1500:]}"
        )
    return json.loads(out.strip().splitlines()[-1]), out + err


#: a hung Redis ends the task at most this long after ``retry_seconds`` (docs/scaling.md)
HANG_SLACK_SECONDS = 1.5


@pytest.mark.parametrize("redis_py", ["locked", "floor"])
def test_a_redis_hung_for_good_ends_the_task_within_the_bound_flushed_and_without_the_password(
    demo, request, redis_py
):
    python, retry = _python(redis_py), 6.0  # longer than the socket timeout (5 s), like the defaults
    with redis_or_skip(password=PASSWORD) as server:
        spec = dict(
            redis=server.url,
            key=budget_key(request),
            n=10,
            period=0.5,
            timeout=TIMEOUT,
            lease_margin=MARGIN,
            retry_seconds=retry,
            concurrency=8,
            log=True,
            urls=[f"{demo.url}/items/{i}?p=w" for i in range(400)],
        )
        proc = _spawn(python, spec)
        try:
            wait_until(lambda: len([r for r in demo.requests if r.query.get("p") == "w"]) >= 15, 30)
            server.pause()
            stopped_at = time.time()
            result, output = _finish(proc, retry + 40, f"redis-py {redis_py}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    took = result.get("finished", 0) - stopped_at
    print(f"redis-py {redis_py}: failed {took:.1f} s after Redis hung: {result}")
    assert "error" in result and f"127.0.0.1:{server.port}/0" in result["error"], result
    assert result["finished"] - stopped_at <= retry + HANG_SLACK_SECONDS
    ok = sum(1 for r in demo.requests if r.query.get("p") == "w" and r.status == 200)
    assert 0 < result["stored"] == ok < 400  # what succeeded was flushed before failing
    assert PASSWORD not in output


@pytest.mark.parametrize("redis_py", ["locked", "floor"])
def test_a_redis_hung_at_start_fails_the_task_within_the_connect_and_socket_timeouts(demo, request, redis_py):
    python = _python(redis_py)
    with redis_or_skip(password=PASSWORD) as server:
        server.pause()
        spec = dict(
            redis=server.url,
            key=budget_key(request),
            n=10,
            period=0.5,
            timeout=TIMEOUT,
            lease_margin=MARGIN,
            log=True,
            urls=[f"{demo.url}/items/{i}?p=w" for i in range(10)],
        )
        started = time.time()
        proc = _spawn(python, spec)
        try:
            result, output = _finish(proc, 60, f"redis-py {redis_py}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            server.resume()
    print(f"redis-py {redis_py}: failed {result.get('finished', 0) - started:.1f} s after start: {result}")
    assert "cannot reach Redis" in result.get("error", "") and f"127.0.0.1:{server.port}/0" in result["error"]
    # the engine's bound on the first call: connect + socket timeout (measured: the socket timeout, ~5.7 s)
    bound = defaults.SHARED_REDIS_CONNECT_TIMEOUT_SECONDS + defaults.SHARED_REDIS_SOCKET_TIMEOUT_SECONDS
    assert result["finished"] - result["started"] <= bound + 1.5
    assert PASSWORD not in output
    assert not demo.requests


@pytest.mark.parametrize("redis_py", ["locked", "floor"])
def test_a_redis_hung_for_three_seconds_delays_the_task_and_the_bound_holds(demo, request, redis_py):
    python, n, period = _python(redis_py), 10, 0.5
    with redis_or_skip() as server:
        spec = dict(
            redis=server.url,
            key=budget_key(request),
            n=n,
            period=period,
            timeout=TIMEOUT,
            lease_margin=MARGIN,
            concurrency=8,
            urls=[f"{demo.url}/items/{i}?p=w" for i in range(120)],
        )
        proc = _spawn(python, spec)
        try:
            wait_until(lambda: len([r for r in demo.requests if r.query.get("p") == "w"]) >= 15, 30)
            server.pause()
            time.sleep(3.0)
            server.resume()
            result, _ = _finish(proc, 60, f"redis-py {redis_py}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert result.get("succeeded") == 120, result
    assert max_in_window(arrivals(demo, "w"), period) <= n


# ---- maxmemory-policy: checked at start ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "warned"),
    [
        ([], False),
        (["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"], True),
        (["--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"], True),
        (["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"], False),
    ],
    ids=["no-maxmemory", "allkeys-lru", "volatile-lru", "noeviction"],
)
async def test_an_evicting_redis_is_named_in_a_warning_at_start(demo, request, caplog, args, warned):
    with redis_or_skip(args=args) as server:
        caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
        limiter = _limiter(server, budget_key(request), Ratelimit(5))
        report, _ = await fetch_through(limiter, [f"{demo.url}/items/1"])
    assert report.succeeded == 1
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "maxmemory" in r.getMessage()
    ]
    assert bool(warnings) == warned, warnings
    if warned:
        assert args[-1] in warnings[0] and "noeviction" in warnings[0]


async def test_a_redis_that_refuses_info_and_config_still_works_conservatively(demo, request, caplog):
    # managed Redis may disable CONFIG (an ACL even INFO): the policy cannot be read, a new key waits a period
    n, period = 5, 1.0
    args = ["--rename-command", "CONFIG", "", "--rename-command", "INFO", ""]
    with redis_or_skip(args=args) as server:
        caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
        started = time.monotonic()
        limiter = _limiter(server, budget_key(request), Ratelimit(n, timedelta(seconds=period)))
        report, _ = await fetch_through(limiter, [f"{demo.url}/items/{i}?p=a" for i in range(n)])
    assert report.succeeded == n
    assert arrivals(demo, "a")[0] - started >= period - 0.1  # nothing proves the key new: one period
    assert any("maxmemory-policy" in r.getMessage() for r in caplog.records)
