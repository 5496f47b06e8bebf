"""Batches to the store: add_batch/add, async stores, a broken store, batch sizes."""

from __future__ import annotations

import asyncio

import pytest
import respx

from airflow_provider_bulk_uploader import UploadedData

from .conftest import RecordingStore, mock_items

BASE = "https://api.test"

# ---- batching ------------------------------------------------------------------------------------


@respx.mock
async def test_add_batch_gets_batch_size_items_per_call():
    mock_items()
    store = RecordingStore()
    report = await UploadedData(
        store, url_maker=[f"{BASE}/items/{i}" for i in range(23)], batch_size=5, http_backend="httpx"
    ).run()
    assert report.succeeded == 23
    assert [len(b) for b in store.batches] == [5, 5, 5, 5, 3]
    assert sorted(item["id"] for item in store.saved_data()) == list(range(23))
    assert store.flushed == 1  # flush() once, at the end


@respx.mock
async def test_add_is_called_per_item_when_there_is_no_add_batch():
    mock_items()

    class AddOnly:
        def __init__(self):
            self.items = []
            self.calls = 0

        def add(self, item):
            self.calls += 1
            self.items.append(item)

        def saved_data(self):
            return self.items

    store = AddOnly()
    await UploadedData(
        store, url_maker=[f"{BASE}/items/{i}" for i in range(7)], batch_size=3, http_backend="httpx"
    ).run()
    assert store.calls == 7
    assert sorted(item["id"] for item in store.items) == list(range(7))


@respx.mock
async def test_async_add_batch_and_flush_are_awaited():
    mock_items()

    class AsyncStore:
        def __init__(self):
            self.batches = []
            self.flushed = False

        def add(self, item):  # pragma: no cover
            raise AssertionError("add_batch exists")

        async def add_batch(self, items):
            await asyncio.sleep(0.01)
            self.batches.append(list(items))

        async def flush(self):
            await asyncio.sleep(0.01)
            self.flushed = True

        def saved_data(self):
            return [i for b in self.batches for i in b]

    store = AsyncStore()
    report = await UploadedData(
        store, url_maker=[f"{BASE}/items/{i}" for i in range(10)], batch_size=4, http_backend="httpx"
    ).run()
    assert report.succeeded == 10
    assert sorted(item["id"] for item in store.saved_data()) == list(range(10))  # coroutine results stored
    assert store.flushed is True
    assert all(len(b) >= 1 for b in store.batches)


# Regression (fixed in 670120f): records arriving while an async add_batch awaited piled up and the next
# call got more than batch_size.
@respx.mock
async def test_a_slow_async_store_gets_every_record_once_and_never_more_than_batch_size_per_call():
    """Workers keep fetching while add_batch awaits; nothing is dropped or duplicated meanwhile, and the
    records that arrive during a call are handed over in batch_size pieces."""
    mock_items()

    class SlowStore(RecordingStore):
        async def add_batch(self, items):
            await asyncio.sleep(0.02)
            self.batches.append(list(items))

    store = SlowStore()
    report = await UploadedData(
        store,
        url_maker=[f"{BASE}/items/{i}" for i in range(200)],
        batch_size=10,
        max_concurrency=16,
        http_backend="httpx",
    ).run()
    assert report.succeeded == 200
    ids = [item["id"] for item in store.saved_data()]
    assert sorted(ids) == list(range(200))
    assert max(len(b) for b in store.batches) <= 10, [len(b) for b in store.batches]


# ---- store errors ----------------------------------------------------------------------------------


class _StoreBroke(Exception):
    pass


@respx.mock
async def test_a_broken_store_is_not_called_again_but_still_flushed():
    mock_items(delay=0.001)

    class AlwaysBroken(RecordingStore):
        calls = 0

        async def add_batch(self, items):  # async: records keep arriving while it runs
            self.calls += 1
            await asyncio.sleep(0.05)
            raise _StoreBroke("disk full")

    store = AlwaysBroken()
    uploader = UploadedData(
        store,
        url_maker=[f"{BASE}/items/{i}" for i in range(50)],
        batch_size=5,
        max_concurrency=2,
        http_backend="httpx",
    )
    with pytest.raises(_StoreBroke):
        await uploader.run()
    assert store.calls == 1  # no second add_batch on the leftovers of an aborted run
    assert store.flushed == 1  # but flush() still ran, to release the store


@pytest.mark.parametrize("fail_on_call", [1, 3])
@respx.mock
async def test_store_exception_propagates_out_of_run(fail_on_call):
    route = mock_items(delay=0.001)

    class Failing(RecordingStore):
        calls = 0

        def add_batch(self, items):
            self.calls += 1
            if self.calls == fail_on_call:  # fails once
                raise _StoreBroke("disk full")
            super().add_batch(items)

    store = Failing()
    uploader = UploadedData(
        store,
        url_maker=[f"{BASE}/items/{i}" for i in range(200)],
        batch_size=5,
        max_concurrency=4,
        http_backend="httpx",
    )
    with pytest.raises(_StoreBroke, match="disk full"):
        await uploader.run()
    assert route.call_count <= 5 * fail_on_call + 4  # stopped at once, did not fetch everything first
    assert store.calls >= fail_on_call
    assert store.flushed == 1  # the store is still flushed (closed) once


@respx.mock
async def test_store_exception_in_the_final_flush_propagates():
    mock_items()

    class FailsOnFlush(RecordingStore):
        def flush(self):
            raise _StoreBroke("cannot close")

    with pytest.raises(_StoreBroke, match="cannot close"):
        await UploadedData(FailsOnFlush(), url_maker=[f"{BASE}/items/1"], http_backend="httpx").run()


def test_store_without_add_is_rejected():
    with pytest.raises(TypeError, match="store"):
        UploadedData(object(), url_maker=[f"{BASE}/items/1"])


@respx.mock
async def test_a_paginated_batch_counts_records_not_pages():
    """batch_size counts the records on the pages (a page is never split): 10 pages of 100 records at
    batch_size=250 reach the store 3 pages (300 records) at a time, not all 10 pages in one batch of
    "250 items" (1 000 records held until the end)."""
    from .test_paging import CURSOR, mock_cursor_pages

    mock_cursor_pages(10, per_page=100)
    store = RecordingStore()
    report = await UploadedData(
        store, url_maker=[f"{BASE}/pages"], batch_size=250, http_backend="httpx", paginator=CURSOR,
        record_path="items",
    ).run()  # fmt: skip
    assert report.failed == 0
    assert [len(batch) for batch in store.batches] == [3, 3, 3, 1]
    ids = [r["id"] for batch in store.batches for page in batch for r in page["items"]]
    assert sorted(ids) == list(range(1000))
