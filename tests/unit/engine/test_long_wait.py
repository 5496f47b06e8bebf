"""``UploadedData(max_wait=...)`` stops a run that would have to pause too long (after flushing) instead of
sleeping, and a store with ``add_batch_from`` learns which URL each stored body came from."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine import LongWait
from airflow_provider_bulk_uploader.engine.retries import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from airflow_provider_bulk_uploader.testing import DemoAPI
from tests.support.retry import fast_policy

from .conftest import BACKENDS


class SourceStore(ListStore):
    """Remembers the URL object of every body and whether it was flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[Any] = []
        self.flushed = False

    def add_batch_from(self, urls: list[Any], items: list[Any]) -> None:
        assert len(urls) == len(items)
        self.sources.extend(urls)
        self.add_batch(items)

    def flush(self) -> None:
        self.flushed = True


class Unit(str):
    unit: int


def test_parse_retry_after_uncapped():
    assert parse_retry_after("3600") == MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("3600", cap=None) == 3600.0


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_retry_after_above_max_wait_stops_the_run_after_flushing(backend):
    async with DemoAPI() as api:
        urls = [f"{api.url}/items/{i}" for i in range(10)]
        urls.append(f"{api.url}/status/429?retry_after=3600")  # above the 300 s cap: not capped here
        urls += [f"{api.url}/items/{i}" for i in range(10, 30)]
        store = SourceStore()
        run = UploadedData(
            store, url_maker=urls, max_concurrency=1, max_wait=60, batch_size=4, http_backend=backend
        )
        started = time.time()
        with pytest.raises(LongWait) as caught:
            await run.run()
        stop = caught.value
    assert stop.seconds == 3600 and 3590 < stop.until - started < 3610
    assert "/status/429" in (stop.url or "")
    assert store.flushed and sorted(r["id"] for r in store.saved_data()) == list(range(10))
    assert stop.report.succeeded == 10 and stop.report.requested == 10 and stop.report.failed == 0
    # nothing after the refusal was sent
    assert [r.path for r in api.requests][-1] == "/status/429"


async def test_a_short_pause_is_waited_out():
    async with DemoAPI() as api:
        urls = [f"{api.url}/flaky/a?fails=1&status=429&retry_after=1", f"{api.url}/items/1"]
        store = ListStore()
        report = await UploadedData(store, url_maker=urls, max_wait=60, retry_policy=fast_policy()).run()
    assert report.succeeded == 2 and len(store) == 2


async def test_without_max_wait_a_long_retry_after_is_not_a_long_wait():
    async with DemoAPI() as api:
        store = ListStore()
        report = await UploadedData(
            store, url_maker=[f"{api.url}/status/429?retry_after=3600"], retry_policy=fast_policy(1)
        ).run()
    assert report.failed == 1  # one attempt allowed: failed, not stopped


def test_max_wait_is_validated():
    with pytest.raises(ValueError, match="max_wait must be a finite number of seconds >= 0, got -1"):
        UploadedData(ListStore(), url_maker=["http://x/1"], max_wait=-1)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_add_batch_from_gets_the_url_objects_the_iterable_yielded(backend):
    async with DemoAPI() as api:
        urls = []
        for i in range(25):
            url = Unit(f"{api.url}/items/{i}")
            url.unit = i
            urls.append(url)
        store = SourceStore()
        await UploadedData(store, url_maker=urls, batch_size=7, http_backend=backend).run()
    by_unit = {u.unit: body["id"] for u, body in zip(store.sources, store.saved_data(), strict=True)}
    assert by_unit == {i: i for i in range(25)}
    assert all(isinstance(u, Unit) for u in store.sources)


async def test_a_long_pause_asked_for_during_retries_also_stops_the_run():
    import httpx
    import respx

    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "7200"}),
            httpx.Response(200, json={}),
        ]
    )
    with respx.mock(assert_all_called=False) as mock:
        mock.get("https://api.test/a").mock(side_effect=lambda request: next(answers))
        run = UploadedData(
            ListStore(),
            url_maker=["https://api.test/a"],
            max_wait=60,
            retry_policy=fast_policy(5),
            http_backend="httpx",
        )
        with pytest.raises(LongWait) as caught:
            await run.run()
    assert caught.value.seconds == 7200 and caught.value.report.failed == 0
