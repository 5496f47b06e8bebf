"""Pagination against real API frameworks on 127.0.0.1 (issue 20): Django REST framework's three
paginators on waitress, fastapi-pagination's ``Page``/``LimitOffsetPage``/``CursorPage`` on uvicorn, and
json-server 0.17 and 1.x from npm, each seeded with the same 1 000 records, 30 a page
(``tests/support/frameworks/``).

For every endpoint, ``auto`` and the paginator a user would configure from the framework's docs both give
every record exactly once, ask for no page past the last one, report the stream complete, and fan out
(more than one request in flight at the server) where the first page gives a total. A recording proxy in
front of each server counts the requests and the most in flight at once.

The ``test_regression_*`` tests are the silent-loss cases of the issue; each failed on the code before it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData, default_retry_policy
from tests.support.frameworks import PAGE_SIZE, RECORDS
from tests.support.frameworks.proxy import RecordingProxy
from tests.support.frameworks.servers import ServerUnavailable, framework_server

pytestmark = pytest.mark.integration

PAGES = -(-RECORDS // PAGE_SIZE)  # 34: 33 full pages and one of 10
ALL_IDS = list(range(1, RECORDS + 1))


def _server(name: str) -> Iterator[str]:
    try:
        with framework_server(name) as base:
            yield base
    except ServerUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def drf() -> Iterator[str]:
    yield from _server("drf")


@pytest.fixture(scope="module")
def fastapi() -> Iterator[str]:
    yield from _server("fastapi")


@pytest.fixture(scope="module")
def json_server_017() -> Iterator[str]:
    yield from _server("json-server-0.17")


@pytest.fixture(scope="module")
def json_server_1() -> Iterator[str]:
    yield from _server("json-server-1")


@pytest.fixture
def through(request) -> Iterator[Any]:
    """``through("drf")``: a fresh recording proxy (5 ms added latency) in front of that server."""
    with_proxies: list[Any] = []

    def start(fixture: str) -> RecordingProxy:
        proxy = RecordingProxy(request.getfixturevalue(fixture), latency_s=0.005)
        context = proxy.running()
        context.__enter__()
        with_proxies.append(context)
        return proxy

    yield start
    for context in with_proxies:
        context.__exit__(None, None, None)


@dataclass(frozen=True)
class Endpoint:
    server: str  # fixture name
    path: str  # start URL path and query
    record_path: str
    explicit: dict[str, Any]  # what a user configures from the framework's docs
    auto_style: str
    fans_out: bool  # the first page gives a total: both explicit and auto fetch the rest in parallel


ENDPOINTS: dict[str, Endpoint] = {
    "drf-page-number": Endpoint(
        "drf",
        "/page-number/",
        "results",
        {"type": "page_number", "base_page": 1, "total_records_path": "count"},
        "auto:page_number",
        True,
    ),
    "drf-limit-offset": Endpoint(
        "drf",
        "/limit-offset/",
        "results",
        {"type": "offset", "limit": PAGE_SIZE, "total_path": "count"},
        "auto:offset",
        True,
    ),
    "drf-cursor": Endpoint(
        "drf", "/cursor/", "results", {"type": "json_link", "next_url_path": "next"}, "auto:json_link", False
    ),
    "fastapi-page": Endpoint(
        "fastapi",
        f"/page?size={PAGE_SIZE}",
        "items",
        {"type": "page_number", "base_page": 1, "total_path": "pages"},
        "auto:page_number",
        True,
    ),
    "fastapi-limit-offset": Endpoint(
        "fastapi",
        f"/limit-offset?limit={PAGE_SIZE}",
        "items",
        {"type": "offset", "limit": PAGE_SIZE, "total_path": "total"},
        "auto:offset",
        True,
    ),
    "fastapi-cursor": Endpoint(
        "fastapi",
        f"/cursor?size={PAGE_SIZE}",
        "items",
        {"type": "cursor", "cursor_path": "next_page", "cursor_param": "cursor"},
        "auto:cursor",
        False,
    ),
    "json-server-0.17": Endpoint(
        "json_server_017",
        f"/items?_page=1&_limit={PAGE_SIZE}",
        ".",
        {
            "type": "page_number",
            "base_page": 1,
            "page_param": "_page",
            "total_records_path": "header:X-Total-Count",
        },
        "auto:page_number",
        True,
    ),
    "json-server-1": Endpoint(
        "json_server_1",
        f"/items?_page=1&_per_page={PAGE_SIZE}",
        "data",
        {"type": "page_number", "base_page": 1, "page_param": "_page", "total_path": "pages"},
        "auto:page_number",
        True,
    ),
}


def records(store: ListStore, record_path: str) -> list[Any]:
    return [r for body in store.saved_data() for r in (body if record_path == "." else body[record_path])]


def ids(store: ListStore, record_path: str) -> list[int]:
    return sorted(int(r["id"]) for r in records(store, record_path))  # json-server 1.x gives ids as strings


async def fetch(url: str, paginator: Any, record_path: str | None, **kwargs: Any):
    store = ListStore()
    kwargs.setdefault("retry_policy", default_retry_policy(2, initial_wait=0.01, max_wait=0.05, jitter=0.0))
    kwargs.setdefault("max_concurrency", 8)
    report = await UploadedData(
        store, url_maker=[url], paginator=paginator, record_path=record_path, progress_interval=0, **kwargs
    ).run()
    return store, report


def assert_every_record_once(store, report, proxy: RecordingProxy, endpoint: Endpoint, fans_out: bool):
    assert ids(store, endpoint.record_path) == ALL_IDS  # every record, each once
    assert report.failed == 0 and report.failures == []
    [stream] = report.streams
    assert stream.complete and stream.pages == PAGES
    statuses = [status for _, status in proxy.seen.requests]
    assert statuses == [200] * PAGES  # no request past the last page
    if fans_out:
        assert proxy.seen.max_in_flight > 1  # the pages after the first went out in parallel
    else:
        assert proxy.seen.max_in_flight == 1  # each page named by the one before it


# ---- every endpoint: auto and the paginator from the docs ---------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_auto_gets_every_record_once_and_fans_out_where_a_total_is_known(name, through):
    endpoint = ENDPOINTS[name]
    proxy = through(endpoint.server)
    store, report = await fetch(proxy.url + endpoint.path, "auto", endpoint.record_path)
    assert report.streams[0].style == endpoint.auto_style
    assert_every_record_once(store, report, proxy, endpoint, endpoint.fans_out)


@pytest.mark.parametrize("name", ENDPOINTS)
async def test_the_documented_paginator_gets_every_record_once(name, through):
    endpoint = ENDPOINTS[name]
    proxy = through(endpoint.server)
    store, report = await fetch(proxy.url + endpoint.path, endpoint.explicit, endpoint.record_path)
    assert report.streams[0].style == endpoint.explicit["type"]
    assert_every_record_once(store, report, proxy, endpoint, endpoint.fans_out)


@pytest.mark.parametrize(
    ("name", "paginator"),
    [
        ("drf-page-number", {"type": "json_link"}),
        ("drf-limit-offset", {"type": "json_link"}),
        ("json-server-0.17", {"type": "header_link"}),
        ("drf-limit-offset", {"type": "auto", "prefer_next_link": True}),
    ],
)
async def test_following_the_links_page_after_page_still_gets_every_record(name, paginator, through):
    endpoint = ENDPOINTS[name]
    proxy = through(endpoint.server)
    store, report = await fetch(proxy.url + endpoint.path, paginator, endpoint.record_path)
    assert_every_record_once(store, report, proxy, endpoint, fans_out=False)


async def test_auto_finds_the_records_list_without_record_path(through):
    proxy = through("fastapi")
    store, report = await fetch(proxy.url + ENDPOINTS["fastapi-page"].path, "auto", None)
    [stream] = report.streams
    assert stream.complete and stream.pages == PAGES and stream.style == "auto:page_number"
    assert sorted(r["id"] for body in store.saved_data() for r in body["items"]) == ALL_IDS
    assert len(proxy.seen.requests) == PAGES


# ---- the silent-loss cases of the issue -----------------------------------------------------------------


async def test_regression_auto_on_fastapi_page_gets_every_record_not_30_of_1000(through):
    proxy = through("fastapi")
    store, report = await fetch(proxy.url + f"/page?size={PAGE_SIZE}", "auto", "items")
    assert ids(store, "items") == ALL_IDS
    assert report.streams[0].complete and report.failed == 0


async def test_regression_auto_on_fastapi_cursor_page_gets_every_record_not_30_of_1000(through):
    proxy = through("fastapi")
    store, report = await fetch(proxy.url + f"/cursor?size={PAGE_SIZE}", "auto", "items")
    assert ids(store, "items") == ALL_IDS
    assert report.streams[0].complete and report.failed == 0


async def test_regression_a_cursor_returned_on_empty_pages_stops_at_the_first_empty_page(through):
    proxy = through("fastapi")
    paginator = {"type": "cursor", "cursor_path": "next_page", "cursor_param": "cursor"}
    store, report = await fetch(proxy.url + f"/cursor-forever?size={PAGE_SIZE}", paginator, "items")
    assert ids(store, "items") == ALL_IDS
    assert report.failed == 0 and report.streams[0].complete and report.streams[0].stop == "empty page"
    assert len(proxy.seen.requests) == PAGES + 1  # the 34 pages and the one empty page that says stop


async def test_regression_json_server_x_total_count_lets_offset_fan_out(through):
    proxy = through("json_server_017")
    paginator = {
        "type": "offset",
        "limit": PAGE_SIZE,
        "offset_param": "_start",
        "limit_param": "_limit",
        "total_path": "header:X-Total-Count",
    }
    store, report = await fetch(proxy.url + "/items", paginator, ".")
    assert ids(store, ".") == ALL_IDS and report.streams[0].complete
    assert len(proxy.seen.requests) == PAGES
    assert proxy.seen.max_in_flight > 1


async def test_regression_json_server_x_total_count_is_a_record_total_for_page_numbers(through):
    proxy = through("json_server_017")
    paginator = ENDPOINTS["json-server-0.17"].explicit
    store, report = await fetch(proxy.url + f"/items?_limit={PAGE_SIZE}", paginator, ".")
    assert ids(store, ".") == ALL_IDS and report.streams[0].complete
    assert [status for _, status in proxy.seen.requests] == [200] * PAGES  # none past the end
    assert proxy.seen.max_in_flight > 1


async def test_regression_drf_page_number_count_is_a_record_total(through):
    proxy = through("drf")
    paginator = {"type": "page_number", "base_page": 1, "total_records_path": "count"}
    store, report = await fetch(proxy.url + "/page-number/", paginator, "results")
    assert ids(store, "results") == ALL_IDS
    assert report.failed == 0 and report.streams[0].complete  # no page 35 (a 404)
    assert [status for _, status in proxy.seen.requests] == [200] * PAGES
    assert proxy.seen.max_in_flight > 1


@pytest.mark.parametrize("path", ["/limit-offset/", "/page-number/"])
async def test_regression_auto_fans_out_on_a_known_total_although_a_next_link_is_present(path, through):
    proxy = through("drf")
    store, report = await fetch(proxy.url + path, "auto", "results")
    assert ids(store, "results") == ALL_IDS and report.streams[0].complete
    assert len(proxy.seen.requests) == PAGES
    assert proxy.seen.max_in_flight > 1


async def test_regression_auto_logs_its_choice_in_every_run(through, caplog):
    proxy = through("drf")
    caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
    for _ in range(2):  # two runs in one process (a long-lived worker): each says what auto chose
        caplog.clear()
        await fetch(proxy.url + "/cursor/", "auto", "results")
        assert sum("pagination auto: chose" in r.getMessage() for r in caplog.records) == 1
