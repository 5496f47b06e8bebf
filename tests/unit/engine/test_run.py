"""engine/_run.py on its own: :class:`Run` over respx-mocked httpx on the virtual clock. The workers share one
URL iterator (each URL taken by exactly one of them, once), a URL that is not an absolute http(s) URL is
reported without a request, and the store gets what was fetched and is flushed when the run is cancelled."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import FetchReport, GetAPICall, ListStore
from airflow_provider_bulk_uploader.engine._run import Run
from airflow_provider_bulk_uploader.engine.redaction import register_secret
from airflow_provider_bulk_uploader.engine.spec import FetchSpec

from .conftest import RecordingStore, secret
from .virtual_clock import run_virtual

BASE = "https://api.test"


def new_run(store: Any, report: FetchReport, total: int | None = None, **settings: Any) -> Run:
    spec = FetchSpec(http_backend="httpx", progress_interval=0, **settings)
    return Run(spec, store, GetAPICall, None, report, None, total)


def items(hang: asyncio.Event | None = None) -> respx.Route:
    """``/items/<n>`` answers ``{"id": n}`` after 1 ms of (virtual) time; ``/hang/<n>`` waits for ``hang``."""

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/hang/"):
            assert hang is not None
            await hang.wait()
        await asyncio.sleep(0.001)
        return httpx.Response(200, json={"id": int(request.url.path.rsplit("/", 1)[1])})

    return respx.route(host="api.test").mock(side_effect=answer)


def test_workers_share_one_iterator_and_each_url_is_taken_once():
    takers: Counter[Any] = Counter()
    yielded: list[str] = []

    def urls():
        for i in range(100):
            yielded.append(f"{BASE}/items/{i}")
            takers[asyncio.current_task()] += 1
            yield yielded[-1]

    async def scenario():
        report, store = FetchReport(), ListStore()
        with respx.mock:
            route = items()
            await new_run(store, report, max_concurrency=8).execute(urls())
        return report, store, [str(call.request.url) for call in route.calls]

    report, store, requested = run_virtual(scenario())
    assert len(yielded) == 100, "the iterator was read once, to its end"
    assert sorted(requested) == sorted(yielded) and len(set(requested)) == 100, "each URL fetched once"
    assert len(takers) == 8 and sum(takers.values()) == 100, "eight workers took turns"
    assert (report.requested, report.succeeded, report.failed) == (100, 100, 0)
    assert sorted(r["id"] for r in store.saved_data()) == list(range(100))


def test_the_number_of_workers_is_the_specs_concurrency_for_the_urls_left():
    in_flight = peak = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json=1)

    async def scenario(total: int | None) -> None:
        with respx.mock:
            respx.route(host="api.test").mock(side_effect=answer)
            urls = iter([f"{BASE}/items/{i}" for i in range(30)])
            await new_run(ListStore(), FetchReport(), total, max_concurrency=8).execute(urls)

    run_virtual(scenario(None))
    assert peak == 8
    peak = 0
    run_virtual(scenario(3))  # e.g. 3 units left after a resume
    assert peak == 3


def test_a_url_that_is_not_absolute_http_is_reported_without_a_request():
    token = secret("run")
    register_secret(token)
    urls = [
        f"{BASE}/items/1",
        f"ftp://api.test/{token}",
        "api.test/items/2",
        httpx.URL(f"{BASE}/items/3"),  # not a str: used as str(url)
    ]

    async def scenario():
        report = FetchReport()
        with respx.mock:
            route = items()
            await new_run(ListStore(), report).execute(iter(urls))
        return report, [str(call.request.url) for call in route.calls]

    report, requested = run_virtual(scenario())
    assert sorted(requested) == [f"{BASE}/items/1", f"{BASE}/items/3"]
    assert (report.requested, report.succeeded, report.failed, report.attempts) == (4, 2, 2, 2)
    assert [(f.url, f.status, f.error, f.attempts) for f in report.failures] == [
        ("ftp://api.test/***", None, "not an absolute http(s) URL", 0),
        ("api.test/items/2", None, "not an absolute http(s) URL", 0),
    ]


def test_a_cancelled_run_hands_what_it_fetched_to_the_store_and_flushes_it():
    async def scenario():
        report, store, hang = FetchReport(), RecordingStore(), asyncio.Event()
        urls = [f"{BASE}/items/{i}" for i in range(6)] + [f"{BASE}/hang/{i}" for i in range(10)]
        with respx.mock:
            items(hang)
            task = asyncio.ensure_future(
                new_run(store, report, max_concurrency=3, batch_size=100).execute(iter(urls))
            )
            while report.succeeded < 6:
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.0)  # every worker now waits on a /hang/ URL
            assert store.batches == [], "nothing handed over yet (batch_size 100)"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return store

    store = run_virtual(scenario())
    assert sorted(r["id"] for r in store.saved_data()) == list(range(6))
    assert store.flushed == 1
