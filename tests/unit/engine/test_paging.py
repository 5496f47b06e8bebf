"""The page scheduler (engine/_paging.py): idle page workers park instead of waking each other."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, UploadedData

BASE = "https://api.test"
CURSOR = {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"}


def mock_cursor_pages(pages: int, per_page: int = 1) -> None:
    """respx: ``/pages?cursor=k`` answers page ``k`` (``per_page`` records, ids from ``k * per_page``) and
    the next cursor, after a short sleep (so that the fetch yields to the loop as a real one does)."""

    async def answer(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.0005)
        k = int(request.url.params.get("cursor", "0"))
        items = [{"id": k * per_page + i} for i in range(per_page)]
        return httpx.Response(200, json={"items": items, "next": str(k + 1) if k < pages - 1 else None})

    respx.get(url__startswith=f"{BASE}/pages").mock(side_effect=answer)


@pytest.fixture
def loop_callbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every callback the event loop runs (each task step is one) while the test runs."""
    count = [0]
    run = asyncio.events.Handle._run

    def counting(handle: asyncio.Handle) -> None:
        count[0] += 1
        run(handle)

    monkeypatch.setattr(asyncio.events.Handle, "_run", counting)
    return count


@respx.mock
async def test_one_cursor_stream_at_concurrency_16_does_not_wake_the_idle_workers(loop_callbacks):
    """A cursor stream has one page in flight at a time: the 15 other workers stay parked until the end,
    instead of being woken for every page (before: notify_all twice a page, ~17 loop callbacks a page; now
    ~2.4: the request's own steps)."""
    pages = 200
    mock_cursor_pages(pages)
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[f"{BASE}/pages"], max_concurrency=16, http_backend="httpx", paginator=CURSOR,
        record_path="items",
    ).run()  # fmt: skip
    ids = [r["id"] for page in store.saved_data() for r in page["items"]]
    assert report.failed == 0 and sorted(ids) == list(range(pages))
    assert loop_callbacks[0] / pages < 5, f"{loop_callbacks[0]} loop callbacks for {pages} pages"
