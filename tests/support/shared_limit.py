"""Helpers of the shared-rate-limit fault tests: a unique budget key per test, one fetch through a limiter
(short timeouts, quick retries), the arrivals the demo API logged for some ``?p=`` tags, and a bounded wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData, default_retry_policy
from airflow_provider_bulk_uploader.engine.ratelimit import Limiter
from airflow_provider_bulk_uploader.testing import DemoAPI

__all__ = ["arrivals", "budget_key", "fetch_through", "mark_unused", "wait_until"]


def mark_unused(client: Any, key: str, n: int | None = None) -> None:
    """Make ``key`` a budget last used a day ago on this server (``client``: a synchronous ``redis.Redis``),
    so that it starts free: a new key on a server up for less than a period + a lease starts *used* for a
    period (lua/budget.lua). ``n``: its slots (strict mode); ``None`` for a bucket."""
    from airflow_provider_bulk_uploader.engine import defaults

    day_ago = (int(client.time()[0]) - 86_400) * 1_000_000
    fields: dict[str, Any] = {"run": client.info("server")["run_id"], "last": day_ago}
    if n is not None:
        fields.update(n=n, lease=1)
    client.hset(f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:meta", mapping=fields)


def budget_key(request: pytest.FixtureRequest) -> str:
    """A key no other test uses (the test's name and a clock reading)."""
    return f"{request.node.name}-{time.monotonic_ns()}"


async def fetch_through(
    limiter: Limiter, urls: list[str], *, concurrency: int = 64, timeout: float = 1.0
) -> tuple[Any, ListStore]:
    """Fetch ``urls`` once through ``limiter``: ``(report, store)``."""
    store = ListStore()
    report = await UploadedData(
        store,
        url_maker=urls,
        rate_limit=limiter,
        max_concurrency=concurrency,
        timeout=timeout,
        retry_policy=default_retry_policy(3, initial_wait=0.05, max_wait=0.2, jitter=0.0),
        progress_interval=0,
    ).run()
    return report, store


def arrivals(api: DemoAPI, *tags: str) -> list[float]:
    """Sorted arrival times of the requests whose ``p`` query parameter is one of ``tags``."""
    return sorted(r.arrival for r in api.requests if r.query.get("p") in tags)


def wait_until(condition: Callable[[], Any], seconds: float) -> None:
    """Poll ``condition`` every 50 ms; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {seconds:g} s")
        time.sleep(0.05)
