"""Paginated runs against the real demo API on 127.0.0.1 (``/pages/{style}``), on both HTTP backends:
every record exactly once, the right stop (no request past the last page), loops and failing pages
reported with earlier pages kept, no credential on a next link to another origin, the client's rate limit
held at the server, parallel fan-out, and ``auto`` choosing the right style on each endpoint."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_bulk_uploader import (
    BasicAuth,
    HeaderAuth,
    ListStore,
    QueryParamsAuth,
    Ratelimit,
    UploadedData,
)
from airflow_provider_bulk_uploader.testing import DemoAPI, max_in_window
from tests.support.retry import fast_policy

pytestmark = pytest.mark.integration

BACKENDS = ("aiohttp", "httpx")
N = 1050  # 11 pages of 100, the last one short

#: style -> (explicit paginator, record_path, what auto must choose)
STYLES: dict[str, tuple[dict[str, Any], str, str]] = {
    "json_link": ({"type": "json_link", "next_url_path": "links.next"}, "data", "json_link"),
    "header_link": ({"type": "header_link"}, ".", "header_link"),
    "cursor": ({"type": "cursor", "cursor_path": "meta.next_cursor"}, "data", "cursor"),
    "header_cursor": ({"type": "header_cursor", "cursor_key": "X-Next-Cursor"}, ".", "header_cursor"),
    "offset": ({"type": "offset", "limit": 100}, "data", "offset"),
    "page_number": (
        {"type": "page_number", "base_page": 1, "total_path": "meta.total_pages"},
        "data",
        "page_number",
    ),
}


def records_of(store: ListStore, record_path: str) -> list[dict[str, Any]]:
    return [r for body in store.saved_data() for r in (body["data"] if record_path == "data" else body)]


def page_requests(api: DemoAPI) -> list[Any]:
    return [r for r in api.requests if r.path.startswith("/pages/")]


async def run(urls, paginator, record_path, backend, **kwargs):
    store = ListStore()
    kwargs.setdefault("retry_policy", fast_policy())
    uploader = UploadedData(
        store,
        url_maker=urls,
        paginator=paginator,
        record_path=record_path,
        http_backend=backend,
        progress_interval=0,
        **kwargs,
    )
    return store, await uploader.run()


def start_url(api: DemoAPI, style: str, query: str = "") -> str:
    extra = "&limit=100" if style == "offset" else ""
    return f"{api.url}/pages/{style}?n={N}{extra}{query}"


# ---- every style ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("style", STYLES)
async def test_every_style_gives_every_record_exactly_once_and_stops_at_the_last_page(demo, style, backend):
    paginator, record_path, _ = STYLES[style]
    store, report = await run([start_url(demo, style)], paginator, record_path, backend)
    ids = [r["id"] for r in records_of(store, record_path)]
    assert sorted(ids) == list(range(N))  # all, once each
    assert report.failed == 0 and report.failures == []
    assert (report.requested, report.succeeded, report.pages, report.records) == (11, 11, 11, N)
    [stream] = report.streams
    assert stream.complete and stream.pages == 11 and stream.records == N and stream.style == style
    assert len(page_requests(demo)) == 11  # no request past the last page


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("n", "stop", "requests"),
    [(1050, "short page", 11), (1000, "empty page", 11)],
)
async def test_offset_and_page_number_without_total_stop_on_short_or_empty_page(
    demo, backend, n, stop, requests
):
    url = f"{demo.url}/pages/offset?n={n}&no_total=1"
    store, report = await run([url], {"type": "offset", "limit": 100}, "data", backend)
    assert sorted(r["id"] for r in records_of(store, "data")) == list(range(n))
    assert report.streams[0].stop == stop and report.streams[0].complete
    assert len(page_requests(demo)) == requests
    demo.reset()
    url = f"{demo.url}/pages/page_number?n={n}&size=100&no_total=1"
    paginator = {"type": "page_number", "base_page": 1, "total_path": None}
    store, report = await run([url], paginator, "data", backend)
    assert sorted(r["id"] for r in records_of(store, "data")) == list(range(n))
    assert report.streams[0].stop == "empty page"
    assert len(page_requests(demo)) == -(-n // 100) + 1  # the empty page is what tells it to stop


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("style", STYLES)
async def test_auto_picks_the_right_style_on_each_demo_endpoint(demo, style, backend):
    _, record_path, expected = STYLES[style]
    store, report = await run([start_url(demo, style)], "auto", record_path, backend)
    assert sorted(r["id"] for r in records_of(store, record_path)) == list(range(N))
    assert report.streams[0].style == f"auto:{expected}"
    assert report.failed == 0


async def test_max_pages_caps_sequential_and_fanned_out_streams(demo):
    store, report = await run(
        [start_url(demo, "cursor"), start_url(demo, "offset")],
        {"type": "auto", "max_pages": 3},
        "data",
        "aiohttp",
    )
    assert len(store.saved_data()) == 6
    assert [s.stop for s in report.streams] == ["max_pages", "max_pages"]
    assert len(page_requests(demo)) == 6


# ---- loops and failures -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("style", ["cursor", "header_cursor", "json_link", "header_link"])
async def test_a_loop_ends_the_stream_with_a_reported_failure_and_keeps_its_pages(demo, style, backend):
    paginator, record_path, _ = STYLES[style]
    paginator = {**paginator, "max_pages": 50}  # bounds the test if loop detection ever breaks
    url = start_url(demo, style, "&loop_after=3")
    store, report = await run([url], paginator, record_path, backend)
    assert sorted(r["id"] for r in records_of(store, record_path)) == list(range(300))
    [failure] = report.failures
    assert "pagination loop" in failure.error
    assert failure.stream == url and failure.stream_incomplete is True
    assert report.streams[0].complete is False and report.streams[0].stop == "loop"
    assert len(page_requests(demo)) == 3  # the repeated page is not requested again
    assert report.requested == report.succeeded + report.failed


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_cursor_loop_endpoint_is_detected_by_auto_too(demo, backend):
    url = f"{demo.url}/pages/cursor-loop?n={N}"
    store, report = await run([url], {"type": "auto", "max_pages": 50}, "data", backend)
    assert len(records_of(store, "data")) == 300
    assert report.streams[0].stop == "loop" and "pagination loop" in report.failures[0].error


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_failing_page_is_reported_with_its_stream_and_earlier_pages_are_kept(demo, backend):
    url = f"{demo.url}/pages/failing?n={N}&fail_status=503"
    store, report = await run([url], STYLES["json_link"][0], "data", backend)
    assert sorted(r["id"] for r in records_of(store, "data")) == list(range(200))
    [failure] = report.failures
    assert failure.url.endswith("page=3") and failure.status == 503 and failure.attempts == 3
    assert failure.stream == url and failure.stream_incomplete is True
    assert report.streams[0].complete is False and report.streams[0].stop == "page failed"
    assert report.to_dict()["failures"][0]["stream"] == url


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_failing_page_of_a_fan_out_loses_only_that_page(demo, backend):
    url = start_url(demo, "offset", "&fail_page=5&fail_status=404")
    store, report = await run([url], STYLES["offset"][0], "data", backend)
    ids = sorted(r["id"] for r in records_of(store, "data"))
    assert ids == [i for i in range(N) if not 400 <= i < 500]
    assert [f.url.split("offset=")[1].split("&")[0] for f in report.failures] == ["400"]
    assert report.streams[0].complete is False and report.streams[0].pages == 10


async def test_a_page_without_records_at_record_path_is_a_failure_naming_the_path(demo):
    store, report = await run([start_url(demo, "cursor")], STYLES["cursor"][0], "items", "aiohttp")
    assert store.saved_data() == []
    [failure] = report.failures
    assert "record_path 'items'" in failure.error and failure.stream_incomplete
    assert report.streams[0].stop == "records not found"


# ---- credentials ------------------------------------------------------------------------------------


def carries(record, token: str) -> bool:
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    return any(token in v or basic in v for v in [*record.headers.values(), *record.query.values()])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["header", "query", "basic"])
async def test_a_next_link_to_another_origin_gets_no_credentials(make_demo, mode, backend):
    token = f"tok-{uuid.uuid4().hex}"
    home = make_demo(token=token, auth=mode)
    other = make_demo()  # another origin (another port), no auth
    auth = {
        "header": lambda: HeaderAuth("X-API-Key", token),
        "query": lambda: QueryParamsAuth("api_key", token),
        "basic": lambda: BasicAuth("user", token),
    }[mode]()
    url = f"{home.url}/pages/json_link?n=300&next_base={other.url}"
    store = ListStore()
    report = await UploadedData(
        store,
        url_maker=[url],
        paginator={"type": "json_link", "next_url_path": "links.next"},
        record_path="data",
        http_backend=backend,
        progress_interval=0,
        retry_policy=fast_policy(),
        headers={"X-Trace": "visible"},
    ).run(auth=auth)
    assert report.failed == 0 and len(records_of(store, "data")) == 300
    [first] = page_requests(home)
    assert carries(first, token)  # the start URL's origin gets the credential
    foreign = page_requests(other)
    assert len(foreign) == 2  # pages 2 and 3 are on the other origin
    assert not any(carries(r, token) for r in foreign)
    assert all(r.headers.get("X-Trace") == "visible" for r in foreign)  # plain extra headers still go


# ---- limits and parallelism -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_rate_limit_holds_at_the_server_across_streams_and_pages(make_demo, backend):
    n, period = 6, 0.25
    api = make_demo(rate_limit=n, period=period)  # the server refuses more: a 429 would show a breach
    urls = [start_url(api, "offset").replace(f"n={N}", "n=800"), f"{api.url}/pages/cursor?n=800"]
    store, report = await run(
        urls,
        "auto",
        "data",
        backend,
        rate_limit=Ratelimit(n, timedelta(seconds=period)),
        max_concurrency=16,
    )
    assert report.failed == 0 and len(records_of(store, "data")) == 1600
    assert api.stats.rate_limited == 0
    assert max_in_window(api.arrivals, period) <= n
    assert report.attempts == 16


async def test_offset_pages_fan_out_in_parallel_while_cursor_pages_stay_sequential(demo):
    latency = "&latency_ms=30"
    await run([start_url(demo, "offset", latency)], STYLES["offset"][0], "data", "aiohttp", max_concurrency=8)
    assert demo.stats.max_in_flight >= 4  # pages 2..11 were in flight together
    demo.reset()
    await run([start_url(demo, "cursor", latency)], STYLES["cursor"][0], "data", "aiohttp", max_concurrency=8)
    assert demo.stats.max_in_flight == 1  # a cursor page needs the previous response


async def test_many_streams_paginate_concurrently_each_counted(demo):
    urls = [f"{demo.url}/pages/cursor?n={100 * k + 50}&latency_ms=20" for k in range(1, 9)]
    _store, report = await run(urls, STYLES["cursor"][0], "data", "aiohttp", max_concurrency=8)
    assert [(s.pages, s.records) for s in report.streams] == [(k + 1, 100 * k + 50) for k in range(1, 9)]
    assert all(s.complete for s in report.streams)
    assert demo.stats.max_in_flight >= 4  # streams overlap
    summary = report.to_dict(max_streams=3)
    assert summary["streams"] == 8 and len(summary["per_stream"]) == 3 and summary["per_stream_truncated"]
    assert summary["records"] == sum(100 * k + 50 for k in range(1, 9))


async def test_without_a_paginator_the_report_is_unchanged(demo):
    store = ListStore()
    report = await UploadedData(store, url_maker=[f"{demo.url}/items/1"], progress_interval=0).run()
    assert report.streams == [] and not report.paginated
    assert set(report.to_dict()) == {
        "requested",
        "succeeded",
        "failed",
        "attempts",
        "elapsed_seconds",
        "rejections",  # 429/503 answers and the lowest pace (issue 19), with or without a paginator
        "effective_rate_min",
        "failures",
    }


@pytest.mark.parametrize("backend", BACKENDS)
async def test_pages_refused_with_429_are_retried_after_the_cool_down(make_demo, backend):
    api = make_demo(rate_limit=5, period=0.5)  # no client limit: the server says 429 (Retry-After: 1)
    url = f"{api.url}/pages/offset?n=1200&limit=100"
    store, report = await run([url], STYLES["offset"][0], "data", backend, retry_policy=fast_policy(6))
    assert sorted(r["id"] for r in records_of(store, "data")) == list(range(1200))
    assert report.failed == 0 and report.pages == 12
    assert api.stats.rate_limited > 0 and report.attempts == 12 + api.stats.rate_limited


async def test_a_custom_paginator_subclass_drives_the_run_and_its_errors_end_only_its_stream(demo):
    from airflow_provider_bulk_uploader.engine.pagination import (
        NextPage,
        PageContext,
        Paginator,
        Stop,
        with_query,
    )

    class EveryOtherPage(Paginator):
        """Pages 1, 3, 5 of /pages/json_link (a user strategy: the next URL from the page number)."""

        type = "every_other_page"

        def next_step(self, ctx: PageContext):
            if "boom" in ctx.start_url:
                raise RuntimeError("cannot paginate this one")
            page = int(ctx.page.url.rsplit("page=", 1)[1]) if "page=" in ctx.page.url else 1
            return NextPage(with_query(ctx.page.url, {"page": page + 2})) if page < 5 else Stop("enough")

    urls = [f"{demo.url}/pages/json_link?n=1000", f"{demo.url}/pages/json_link?n=1000&boom=1"]
    store, report = await run(urls, EveryOtherPage(), "data", "aiohttp")
    good, bad = report.streams
    assert (good.pages, good.stop, good.complete) == (3, "enough", True)
    assert (bad.pages, bad.stop, bad.complete) == (1, "broken", False)
    assert (
        "EveryOtherPage.next_step raised RuntimeError: cannot paginate this one" in report.failures[0].error
    )
    ids = sorted(r["id"] for r in records_of(store, "data"))
    assert ids == sorted([*range(100), *range(200, 300), *range(400, 500), *range(100)])  # 1, 3, 5 + 1


# ---- totals from anywhere, and what is reported when a stream stops with more to fetch (issue 20) --------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("path", "paginator"),
    [
        (
            "/pages/page_number?size=100&total=records",
            {"type": "page_number", "base_page": 1, "total_records_path": "meta.total"},
        ),
        (
            "/pages/page_number?size=100&total=header",
            {"type": "page_number", "base_page": 1, "total_records_path": "header:X-Total-Count"},
        ),
        (
            "/pages/offset?limit=100&total=header",
            {"type": "offset", "limit": 100, "total_path": "header:X-Total-Count"},
        ),
    ],
)
async def test_a_record_total_or_a_header_total_fans_out_with_no_request_past_the_end(
    demo, backend, path, paginator
):
    url = f"{demo.url}{path}&n={N}&latency_ms=20"
    store, report = await run([url], paginator, "data", backend, max_concurrency=8)
    assert sorted(r["id"] for r in records_of(store, "data")) == list(range(N))
    assert report.failed == 0 and report.streams[0].complete and report.streams[0].stop == "total reached"
    assert len(page_requests(demo)) == 11
    assert demo.stats.max_in_flight >= 4


@pytest.mark.parametrize("backend", BACKENDS)
async def test_auto_reports_a_stream_it_cannot_follow_when_the_body_says_there_is_more(demo, backend):
    url = f"{demo.url}/pages/page_number?n={N}&size=100&total=records"  # meta.total, no page count, no link
    store, report = await run([url], "auto", "data", backend)
    assert len(records_of(store, "data")) == 100  # the first page is kept
    [stream] = report.streams
    assert (stream.complete, stream.stop, stream.style) == (False, "more indicated", "auto:single_page")
    [failure] = report.failures
    said = "the body's 'meta.total' says 1050 records (100 received)"
    assert failure.error == f"stream stopped after 1 page (single page) but {said}"
    assert failure.stream_incomplete and report.failed == 1 and report.requested == 2
