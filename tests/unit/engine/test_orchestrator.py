"""The pipeline: batching into the store, a bounded lazy producer, the concurrency bound, the httpx pool
sizing, custom APICall factories (the seed's PostAPICall), store errors and cancel()."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import GetAPICall, ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.interfaces import APICall

from .conftest import BACKENDS, RecordingStore, mock_items

BASE = "https://api.test"


# ---- bounded, lazy producer ------------------------------------------------------------------------


@respx.mock
async def test_a_generator_of_urls_is_consumed_lazily_while_requests_are_in_flight():
    consumed = completed = 0
    concurrency = 4
    ahead: list[int] = []  # URLs taken from the generator but not finished, seen at each request

    async def answer(request):
        nonlocal completed
        ahead.append(consumed - completed)
        await asyncio.sleep(0.001)
        completed += 1
        return httpx.Response(200, json=1)

    respx.get(url__regex=rf"{BASE}/items/\d+").mock(side_effect=answer)

    def urls():
        nonlocal consumed
        for i in range(1_000_000):
            consumed += 1
            yield f"{BASE}/items/{i}"

    class Stop(Exception):
        pass

    class StopAfter(RecordingStore):
        def add_batch(self, items):
            super().add_batch(items)
            if len(self.saved_data()) >= 40:
                raise Stop  # end the run early: we only care about how far the generator was read

    uploader = UploadedData(
        StopAfter(), url_maker=urls(), max_concurrency=concurrency, batch_size=10, http_backend="httpx"
    )
    assert consumed == 1  # construction peeks at the first URL only
    with pytest.raises(Stop):
        await uploader.run()
    assert len(ahead) >= 40
    assert max(ahead) <= concurrency, ahead  # never more URLs taken than workers busy
    assert consumed <= 40 + concurrency + 1, consumed  # of a million: the rest were never produced


@respx.mock
async def test_unsized_iterable_and_one_shot_iterator_are_fetched_completely():
    mock_items()
    store = ListStore()
    report = await UploadedData(
        store, url_maker=(f"{BASE}/items/{i}" for i in range(30)), http_backend="httpx"
    ).run()
    assert report.requested == 30 and sorted(i["id"] for i in store.saved_data()) == list(range(30))


# ---- concurrency bound ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
async def test_max_concurrency_bounds_requests_in_flight_at_the_server(demo, backend):
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{demo.url}/slow?ms=60&i={i}" for i in range(30)],
        max_concurrency=5,
        http_backend=backend,
    ).run()
    assert report.succeeded == 30
    assert demo.stats.max_in_flight == 5  # bounded, and the bound is used


@pytest.mark.integration
@pytest.mark.parametrize("concurrency", [9, 20])
async def test_httpx_pools_are_never_smaller_than_their_share_of_concurrency(demo, concurrency):
    """All ``concurrency`` slow requests must be at the server at once: a worker queued inside an
    httpx pool (pool smaller than the workers sharing it) would show as fewer in flight."""
    started = time.monotonic()
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{demo.url}/slow?ms=1000&i={i}" for i in range(concurrency)],
        max_concurrency=concurrency,
        http_backend="httpx",
    ).run()
    assert report.succeeded == concurrency
    assert demo.stats.max_in_flight == concurrency
    assert time.monotonic() - started < 1.9  # one round (1 s), not two (2 s)


@respx.mock
async def test_custom_api_call_sees_at_most_max_concurrency_in_flight():
    in_flight = peak = 0
    respx.get(url__regex=rf"{BASE}/items/\d+").mock(return_value=httpx.Response(200, json=1))

    class Counting:
        def __init__(self, client, url, retry_policy=None):
            self.client, self.url = client, url

        async def content(self):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                await asyncio.sleep(0.005)
                return (await self.client.get(self.url)).json()
            finally:
                in_flight -= 1

    report = await UploadedData(
        ListStore(), Counting, [f"{BASE}/items/{i}" for i in range(60)], max_concurrency=7
    ).run()
    assert report.succeeded == 60 and peak == 7


# ---- custom APICall factories ----------------------------------------------------------------------


class PostAPICall(APICall):  # the seed README's example, verbatim apart from the import root
    def __init__(self, client: httpx.AsyncClient, url: str, retry_policy=None):
        self.client = client
        self.url = url
        self.retry_policy = retry_policy

    async def content(self):
        """Fetch and return data from the URL"""
        response = await self.client.post(self.url)
        return response.json()


@pytest.mark.parametrize("backend", [None, *BACKENDS])
@respx.mock
async def test_seed_post_api_call_works_unchanged(backend):
    clients = []

    def answer(request):
        clients.append(request.method)
        return httpx.Response(200, json={"posted": request.url.path})

    respx.post(url__regex=rf"{BASE}/things/\d+").mock(side_effect=answer)
    store = ListStore()
    kwargs = {} if backend is None else {"http_backend": backend}
    report = await UploadedData(
        store=store,
        api_call_factory=PostAPICall,
        url_maker=[f"{BASE}/things/{i}" for i in range(5)],
        **kwargs,
    ).run()
    assert report.succeeded == 5
    assert clients == ["POST"] * 5
    assert sorted(d["posted"] for d in store.saved_data()) == [f"/things/{i}" for i in range(5)]


@respx.mock
async def test_custom_factory_receives_an_httpx_async_client():
    respx.get(f"{BASE}/items/1").mock(return_value=httpx.Response(200, json=1))
    got = []

    def factory(*, client, url, retry_policy):
        got.append(client)
        return GetAPICall(client, url, retry_policy)

    await UploadedData(ListStore(), factory, [f"{BASE}/items/1"]).run()
    assert len(got) == 1 and isinstance(got[0], httpx.AsyncClient)


# Regression (fixed in 670120f): the fast path was chosen from an inherited fast_path_method attribute, so
# a GetAPICall subclass's content() was silently never called on the default backend.
@pytest.mark.integration
async def test_a_get_api_call_subclass_is_not_bypassed_by_the_fast_path(demo):
    class Wrapped(GetAPICall):
        async def content(self):
            return {"wrapped": await super().content()}

    store = ListStore()
    report = await UploadedData(store, Wrapped, [f"{demo.url}/items/1"]).run()  # default: aiohttp
    assert report.succeeded == 1
    assert list(store.saved_data()[0]) == ["wrapped"]  # the subclass's content() ran
    assert store.saved_data()[0]["wrapped"]["id"] == 1


# ---- cancel() ---------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
async def test_cancel_from_another_thread_flushes_successes_then_raises(demo, backend):
    fast = [f"{demo.url}/items/{i}" for i in range(10)]
    slow = [f"{demo.url}/slow?ms=1500&i={i}" for i in range(20)]
    store = RecordingStore()
    uploader = UploadedData(
        store, url_maker=fast + slow, max_concurrency=4, batch_size=100, http_backend=backend
    )
    task = asyncio.ensure_future(uploader.run())

    # wait (bounded) until all 4 workers sit on slow requests: a worker takes its next URL only after
    # the previous record was handed to the pending batch, so all 10 fast records are then pending
    deadline = time.monotonic() + 5
    while not (demo.stats.by_path["/items/{id}"] == 10 and demo.stats.in_flight == 4):
        assert time.monotonic() < deadline, demo.stats
        await asyncio.sleep(0.02)
    assert store.batches == []  # nothing handed over yet (batch_size 100): the cancel must flush them
    started = time.monotonic()
    canceller = threading.Thread(target=uploader.cancel)
    canceller.start()
    canceller.join(timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - started < 1.0  # did not wait for the 1.5 s requests
    assert sorted(item["id"] for item in store.saved_data()) == list(range(10))  # flushed
    assert store.flushed == 1
    deadline = time.monotonic() + 3  # let the server finish the abandoned slow handlers (quiet teardown)
    while demo.stats.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


@respx.mock
async def test_cancel_before_run_raises_nothing_and_the_run_sends_nothing():
    """cancel() with no run in progress neither raises nor touches the network; the run that follows is
    cancelled before its first request (the store stays empty)."""
    route = mock_items()
    store = ListStore()
    uploader = UploadedData(store, url_maker=[f"{BASE}/items/1"], http_backend="httpx")
    assert uploader.cancel() is None
    assert route.call_count == 0
    with pytest.raises(asyncio.CancelledError):
        await uploader.run()
    assert route.call_count == 0 and store.saved_data() == []


async def test_a_cancel_that_comes_before_run_starts_is_not_lost():
    uploader = UploadedData(ListStore(), url_maker=["https://api.test/items/1"], http_backend="httpx")
    uploader.cancel()  # e.g. Airflow's on_kill racing with the task's start
    with pytest.raises(asyncio.CancelledError):
        await uploader.run()
    with respx.mock:  # the request to cancel was used up: a later run goes ahead
        respx.get("https://api.test/items/1").mock(return_value=httpx.Response(200, json={"id": 1}))
        report = await uploader.run()
    assert report.succeeded == 1


@respx.mock
async def test_a_callable_factory_without_a_dict_is_accepted():
    respx.get(f"{BASE}/items/1").mock(return_value=httpx.Response(200, json={"id": 1}))

    class Factory:
        __slots__ = ()

        def __call__(self, *, client, url, retry_policy):
            return GetAPICall(client, url, retry_policy)

    store = ListStore()
    report = await UploadedData(store, Factory(), [f"{BASE}/items/1"]).run()
    assert report.succeeded == 1 and store.saved_data() == [{"id": 1}]
