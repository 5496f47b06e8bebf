"""The engine's side of resuming a paginated run (no Airflow): a store with ``add_batch_from`` learns each
page body's stream, position and what follows it (:class:`PageSource`), and a start URL carrying
``resume_pages`` continues its stream there — against the demo API's ``/pages/{style}`` on both backends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.interfaces import PageSource, StartURL
from airflow_provider_bulk_uploader.engine.pagination import query_value, with_query

BACKENDS = ("aiohttp", "httpx")
CURSOR = {"type": "cursor", "cursor_path": "meta.next_cursor"}
OFFSET = {"type": "offset", "limit": 100}


def unit_url(url: str, unit: int, resume: list[tuple[str, int, bool]] | None = None) -> StartURL:
    """A start URL with a unit key (what the Airflow layer's checkpoint hands the engine)."""
    return StartURL(url, unit, resume or ())


class SourceStore:
    """Records every body with the source the engine gave it."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any]] = []

    def add(self, item: Any) -> None:  # pragma: no cover - add_batch_from is used
        raise AssertionError("add_batch_from expected")

    async def add_batch_from(self, urls: list[Any], items: list[Any]) -> None:
        self.items += list(zip(urls, items, strict=True))


def run(demo: Any, urls: list[Any], paginator: dict[str, Any], backend: str) -> SourceStore:
    store = SourceStore()
    asyncio.run(
        UploadedData(
            store,
            url_maker=urls,
            paginator=paginator,
            record_path="data",
            http_backend=backend,
            max_concurrency=4,
            progress_interval=0,
        ).run()
    )
    return store


def ids(store: SourceStore) -> list[int]:
    return sorted(r["id"] for _, body in store.items for r in body["data"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sequential_pages_carry_their_position_and_next_url_and_resume_there(demo, backend):
    start = f"{demo.url}/pages/cursor?n=1050"
    store = run(demo, [unit_url(start, 7)], CURSOR, backend)
    sources = [s for s, _ in store.items]
    assert all(isinstance(s, PageSource) and s.stream_unit == 7 for s in sources)
    assert [s.number for s in sources] == list(range(1, 12)), "in stream order"
    requested = [r.query.get("cursor") for r in demo.requests]
    assert [query_value(s.after["next"], "cursor") for s in sources[:-1]] == requested[1:], "the next page"
    assert sources[-1].after == "end"

    demo.reset()
    resume_at = sources[4].after["next"]  # pages 1..5 stored: continue at page 6
    store = run(demo, [unit_url(start, 7, [(resume_at, 6, True)])], CURSOR, backend)
    assert len(demo.requests) == 6, "0 requests for the stored pages"
    assert demo.requests[0].query["cursor"] == query_value(resume_at, "cursor")
    assert [s.number for s, _ in store.items] == list(range(6, 12))
    assert ids(store) == list(range(500, 1050))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fanned_out_pages_are_described_compactly_and_resume_only_the_missing(demo, backend):
    start = f"{demo.url}/pages/offset?n=1050"
    store = run(demo, [unit_url(start, 3)], OFFSET, backend)
    first = next(s for s, _ in store.items if s.number == 1)
    assert first.after["first"] == 2 and first.after["count"] == 10
    spec = first.after["fanout"]
    assert spec["param"] == "offset" and spec["values"] == [100, 1050, 100]
    assert sorted(s.number for s, _ in store.items) == list(range(1, 12))
    assert all(s.after is None for s, _ in store.items if s.number > 1)

    demo.reset()
    missing = [
        (with_query(spec["base"], {"offset": 300}), 4, False),
        (with_query(spec["base"], {"offset": 700}), 8, False),
    ]
    store = run(demo, [unit_url(start, 3, missing)], OFFSET, backend)
    assert sorted(r.query["offset"] for r in demo.requests) == ["300", "700"]
    assert sorted(s.number for s, _ in store.items) == [4, 8]
    assert ids(store) == list(range(300, 400)) + list(range(700, 800))


def test_a_store_without_add_batch_from_gets_no_sources(demo):
    store = ListStore()
    asyncio.run(
        UploadedData(
            store,
            url_maker=[unit_url(f"{demo.url}/pages/cursor?n=250", 1)],
            paginator=CURSOR,
            record_path="data",
        ).run()
    )
    assert len(store) == 3


def test_max_pages_counts_from_the_streams_first_page_after_a_resume(demo):
    start = f"{demo.url}/pages/cursor?n=1050"
    capped = {**CURSOR, "max_pages": 8}
    sources = [s for s, _ in run(demo, [unit_url(start, 0)], capped, "aiohttp").items]
    assert [s.number for s in sources] == list(range(1, 9)) and sources[-1].after == "end"
    demo.reset()
    resumed = run(demo, [unit_url(start, 0, [(sources[4].after["next"], 6, True)])], capped, "aiohttp")
    assert [s.number for s, _ in resumed.items] == [6, 7, 8] and len(demo.requests) == 3
    assert resumed.items[-1][0].after == "end"


def test_a_capped_fan_out_records_only_the_pages_it_will_fetch(demo):
    store = run(demo, [unit_url(f"{demo.url}/pages/offset?n=1050", 0)], {**OFFSET, "max_pages": 5}, "aiohttp")
    first = next(s for s, _ in store.items if s.number == 1)
    assert first.after["count"] == 4 and first.after["fanout"]["values"] == [100, 500, 100]
    assert sorted(s.number for s, _ in store.items) == [1, 2, 3, 4, 5]
