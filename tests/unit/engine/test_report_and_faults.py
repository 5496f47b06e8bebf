"""Against a real loopback server on the default aiohttp path (and httpx where it matters): errors never
halt the run, nothing is lost, the report says what happened to every URL, transport faults and
timeouts are retried and bounded."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import pytest

from airflow_provider_bulk_uploader import FetchReport, ListStore, UploadedData
from airflow_provider_bulk_uploader.engine import defaults
from tests.support.net import closed_port
from tests.support.retry import fast_policy

from .conftest import BACKENDS

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", BACKENDS)
async def test_mixed_outcomes_nothing_lost_and_report_is_exact(demo, backend):
    good = [f"{demo.url}/items/{i}" for i in range(60)]
    not_found = [f"{demo.url}/items/nope-{i}" for i in range(5)]  # 404: not retried
    unavailable = [f"{demo.url}/status/503?i={i}" for i in range(4)]  # 503 forever: retried, gives up
    invalid = [f"{demo.url}/invalid-json?i={i}" for i in range(3)]  # 200 + garbage: not retried
    dropped = [f"{demo.url}/drop?i={i}" for i in range(3)]  # connection closed: retried, gives up
    flaky = [f"{demo.url}/flaky/k{i}?fails=2&status=502" for i in range(4)]  # succeed on 3rd attempt
    urls = good + not_found + unavailable + invalid + dropped + flaky
    urls = urls[::2] + urls[1::2]  # interleave the kinds

    store = ListStore()
    uploader = UploadedData(
        store, url_maker=urls, max_concurrency=8, retry_policy=fast_policy(3), http_backend=backend
    )
    report = await uploader.run()

    assert isinstance(report, FetchReport)
    assert report.requested == len(urls)
    assert report.succeeded == len(good) + len(flaky) == len(store.saved_data())
    assert report.failed == len(urls) - report.succeeded == len(report.failures)

    # every URL exactly once: stored (by its payload) or failed, never both, never twice
    stored_ids = Counter(item["id"] for item in store.saved_data() if "id" in item)
    assert stored_ids == Counter(range(60))
    assert Counter(item["key"] for item in store.saved_data() if "key" in item) == Counter(
        f"k{i}" for i in range(4)
    )
    failed_urls = Counter(f.url for f in report.failures)
    assert failed_urls == Counter(not_found + unavailable + invalid + dropped)

    by_url = {f.url: f for f in report.failures}
    for url in not_found:
        assert (by_url[url].status, by_url[url].attempts) == (404, 1)
        assert "404" in by_url[url].error
    for url in unavailable:
        assert (by_url[url].status, by_url[url].attempts) == (503, 3)
        assert "503" in by_url[url].error
    for url in invalid:
        assert (by_url[url].status, by_url[url].attempts) == (200, 1)
        assert "not valid JSON" in by_url[url].error
    for url in dropped:
        assert by_url[url].status is None and by_url[url].attempts == 3
        assert by_url[url].error

    expected_attempts = len(good) + 3 * len(flaky) + len(not_found) + 3 * len(unavailable)
    expected_attempts += len(invalid) + 3 * len(dropped)
    assert report.attempts == expected_attempts
    # the server agrees (drops aside: see test_a_dropped_attempt_is_one_arrival_at_the_server)
    assert demo.stats.total - demo.stats.by_path["/drop"] == expected_attempts - 3 * len(dropped)
    assert report.elapsed_seconds > 0 and report.requests_per_second > 0

    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["requested"] == len(urls) and as_dict["failed"] == report.failed
    assert {f["url"] for f in as_dict["failures"]} == set(failed_urls)
    assert set(as_dict["failures"][0]) == {"url", "status", "error", "attempts"}
    assert len(report.to_dict(max_failures=2)["failures"]) == 2


async def test_a_later_url_without_scheme_becomes_a_failure_not_a_crash(demo):
    # a generator is checked lazily (only its first URL up front); lists are checked whole at construction
    urls = (u for u in [f"{demo.url}/items/1", "example.com/items/2", f"{demo.url}/items/3"])
    store = ListStore()
    report = await UploadedData(store, url_maker=urls).run()
    assert sorted(item["id"] for item in store.saved_data()) == [1, 3]
    assert report.failed == 1 and report.failures[0].url == "example.com/items/2"
    assert report.failures[0].attempts == 0 and report.failures[0].status is None
    assert len(demo.arrivals) == 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_transient_faults_are_retried_until_success(demo, backend):
    urls = [
        f"{demo.url}/flaky/a{i}?fails=2&status={code}&retry_after=0"
        for i, code in enumerate((500, 503, 429, 408))
    ]
    store = ListStore()
    report = await UploadedData(
        store, url_maker=urls, retry_policy=fast_policy(3), http_backend=backend
    ).run()
    assert report.failed == 0, report.failures
    assert sorted(item["attempt"] for item in store.saved_data()) == [3, 3, 3, 3]
    assert report.attempts == 12


@pytest.mark.parametrize("backend", BACKENDS)
async def test_dropped_connection_then_recovery(demo, backend):
    """A dropped connection is a transport error: with one attempt left it stays a failure; the run
    continues and the other URLs on the same pool succeed."""
    urls = [f"{demo.url}/drop"] + [f"{demo.url}/items/{i}" for i in range(10)]
    store = ListStore()
    report = await UploadedData(
        store, url_maker=urls, max_concurrency=2, retry_policy=fast_policy(2), http_backend=backend
    ).run()
    assert report.succeeded == 10 and report.failed == 1
    failure = report.failures[0]
    assert failure.status is None and failure.attempts == 2
    assert "disconnect" in failure.error.lower()


# Regression (fixed in aa8a182): aiohttp's ClientSession re-sent an idempotent request once on a dropped
# connection (ClientSession._retry_connection), so one engine attempt was two arrivals.
@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_dropped_attempt_is_one_arrival_at_the_server(demo, backend):
    urls = [f"{demo.url}/drop?i={i}" for i in range(3)]
    report = await UploadedData(
        ListStore(), url_maker=urls, max_concurrency=1, retry_policy=fast_policy(2), http_backend=backend
    ).run()
    assert report.attempts == 6 and [f.attempts for f in report.failures] == [2, 2, 2]
    assert demo.stats.by_path["/drop"] == report.attempts


@pytest.mark.parametrize("backend", BACKENDS)
async def test_timeout_per_attempt_is_enforced_and_retried(demo, backend):
    started = time.monotonic()
    store = ListStore()
    report = await UploadedData(
        store,
        url_maker=[f"{demo.url}/slow?ms=500", f"{demo.url}/items/1"],
        timeout=0.15,
        retry_policy=fast_policy(2),
        http_backend=backend,
    ).run()
    elapsed = time.monotonic() - started
    assert report.succeeded == 1 and report.failed == 1
    failure = report.failures[0]
    assert failure.status is None and failure.attempts == 2
    assert "timeout" in failure.error.lower() or "timed out" in failure.error.lower()
    assert elapsed < 0.9, f"two 0.15 s attempts took {elapsed:.2f} s (not cut at the timeout)"
    # the server logs a request when its handler finishes: wait for both slow handlers to end
    deadline = time.monotonic() + 2.0
    while demo.stats.by_path["/slow"] < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert demo.stats.by_path["/slow"] == 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_connection_refused_is_a_retried_transport_failure(backend):
    port = closed_port()  # nothing listens on this port
    report = await UploadedData(
        ListStore(),
        url_maker=[f"http://127.0.0.1:{port}/items/1"],
        retry_policy=fast_policy(2),
        http_backend=backend,
    ).run()
    assert report.failed == 1
    assert report.failures[0].status is None and report.failures[0].attempts == 2


@pytest.mark.parametrize("backend", BACKENDS)
async def test_same_origin_redirect_is_followed(demo, backend):
    store = ListStore()
    urls = [f"{demo.url}/redirect?to=/items/7&code={code}" for code in (301, 302, 303, 307, 308)]
    report = await UploadedData(store, url_maker=urls, http_backend=backend).run()
    assert report.failed == 0, report.failures
    assert [item["id"] for item in store.saved_data()] == [7] * 5
    assert demo.stats.by_path["/items/{id}"] == 5


# Requests a redirect loop costs before either backend gives up: the first one plus the shared redirect
# limit (defaults.MAX_REDIRECTS, which both the aiohttp fast path and httpx use).
REDIRECT_LOOP_REQUESTS = defaults.MAX_REDIRECTS + 1


@pytest.mark.parametrize("backend", BACKENDS)
async def test_redirect_loop_is_a_bounded_transport_failure(demo, backend):
    loop_url = f"{demo.url}/redirect?to=%23again"  # Location "#again": the same URL forever
    report = await UploadedData(
        ListStore(), url_maker=[loop_url], retry_policy=fast_policy(1), http_backend=backend
    ).run()
    assert report.failed == 1
    failure = report.failures[0]
    assert failure.status is None and "redirect" in failure.error.lower()
    assert demo.stats.total == REDIRECT_LOOP_REQUESTS  # followed the limit's hops, then gave up


# Regression (fixed in 670120f): httpx applied `timeout` per read, so a trickling body never timed out.
@pytest.mark.parametrize("backend", BACKENDS)
async def test_timeout_bounds_the_whole_attempt_even_when_the_body_trickles(drip_server, backend):
    started = time.monotonic()
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{drip_server}/drip?chunks=10&every=0.1"],  # 1 s in all, a byte every 0.1 s
        timeout=0.3,
        retry_policy=fast_policy(1),
        http_backend=backend,
    ).run()
    assert report.failed == 1 and report.failures[0].status is None
    assert time.monotonic() - started < 0.8
