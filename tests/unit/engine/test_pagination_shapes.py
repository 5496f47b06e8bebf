"""``auto``'s table of response shapes (``engine/pagination/_shapes.py``), one row per framework or API:
a first page (body and headers) gives the style, the next request (or the fan-out of every other page),
and a first page that says there is more while its last page says nothing is left (the completeness
check). No network: the pages are what each API documents, built by hand (the real frameworks run in
``tests/integration/test_pagination_frameworks.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_bulk_uploader.engine.pagination import (
    AutoPaginator,
    Broken,
    CursorPaginator,
    FanOut,
    JSONLinkPaginator,
    NextPage,
    OffsetPaginator,
    Page,
    PageContext,
    PageNumberPaginator,
    SinglePagePaginator,
    detect,
)
from airflow_provider_bulk_uploader.engine.pagination._evidence import signs_of_more
from airflow_provider_bulk_uploader.engine.pagination._found import find_records
from airflow_provider_bulk_uploader.engine.pagination._shapes import NAMED, SHAPES

API = "https://api.test"
TOTAL, SIZE, PAGES = 1000, 30, 34


def recs(first: int = 1, n: int = SIZE) -> list[dict[str, Any]]:
    return [{"id": i} for i in range(first, first + n)]


def link(*entries: tuple[str, str]) -> dict[str, str]:
    return {"Link": ", ".join(f'<{url}>; rel="{rel}"' for url, rel in entries)}


@dataclass(frozen=True)
class Row:
    url: str
    body: Any
    expected: Any  # the paginator auto must build
    next: NextPage | tuple[int, str, str]  # the next request, or a fan-out: (count, first URL, last URL)
    last_url: str  # the last page of the same endpoint
    last_body: Any
    headers: dict[str, str] = field(default_factory=dict)
    last_headers: dict[str, str] = field(default_factory=dict)
    record_path: str | None = None  # None: auto finds the list


ROWS: dict[str, Row] = {
    "Django REST framework PageNumberPagination": Row(
        f"{API}/items/",
        {"count": TOTAL, "next": f"{API}/items/?page=2", "previous": None, "results": recs()},
        PageNumberPaginator(base_page=1, page_param="page", total_path=None, total_records_path="count"),
        (33, f"{API}/items/?page=2", f"{API}/items/?page=34"),
        f"{API}/items/?page=34",
        {"count": TOTAL, "next": None, "previous": f"{API}/items/?page=33", "results": recs(991, 10)},
    ),
    "Django REST framework LimitOffsetPagination": Row(
        f"{API}/items/",
        {"count": TOTAL, "next": f"{API}/items/?limit=30&offset=30", "previous": None, "results": recs()},
        OffsetPaginator(limit=30, offset_param="offset", limit_param="limit", total_path="count"),
        (33, f"{API}/items/?limit=30&offset=30", f"{API}/items/?limit=30&offset=990"),
        f"{API}/items/?limit=30&offset=990",
        {
            "count": TOTAL,
            "next": None,
            "previous": f"{API}/items/?limit=30&offset=960",
            "results": recs(991, 10),
        },
    ),
    "Django REST framework CursorPagination": Row(
        f"{API}/items/",
        {"next": f"{API}/items/?cursor=cD0zMA%3D%3D", "previous": None, "results": recs()},
        JSONLinkPaginator("next"),
        NextPage(f"{API}/items/?cursor=cD0zMA%3D%3D"),
        f"{API}/items/?cursor=cD05OTA%3D",
        {"next": None, "previous": f"{API}/items/?cursor=cj0xJnA9OTkx", "results": recs(991, 10)},
    ),
    "fastapi-pagination Page": Row(
        f"{API}/page?size=30",
        {"items": recs(), "total": TOTAL, "page": 1, "size": SIZE, "pages": PAGES},
        PageNumberPaginator(base_page=1, page_param="page", total_path="pages"),
        (33, f"{API}/page?size=30&page=2", f"{API}/page?size=30&page=34"),
        f"{API}/page?size=30&page=34",
        {"items": recs(991, 10), "total": TOTAL, "page": 34, "size": SIZE, "pages": PAGES},
    ),
    "fastapi-pagination LimitOffsetPage": Row(
        f"{API}/limit-offset?limit=30",
        {"items": recs(), "total": TOTAL, "limit": SIZE, "offset": 0},
        OffsetPaginator(limit=30, total_path="total"),
        (33, f"{API}/limit-offset?limit=30&offset=30", f"{API}/limit-offset?limit=30&offset=990"),
        f"{API}/limit-offset?limit=30&offset=990",
        {"items": recs(991, 10), "total": TOTAL, "limit": SIZE, "offset": 990},
    ),
    "fastapi-pagination CursorPage": Row(
        f"{API}/cursor?size=30",
        {
            "items": recs(),
            "total": TOTAL,
            "current_page": "Pg%3D%3D",
            "current_page_backwards": "PGk6MzE%3D",
            "previous_page": None,
            "next_page": "Pmk6MzA%3D",
        },
        CursorPaginator("next_page", "cursor"),
        NextPage(f"{API}/cursor?size=30&cursor=Pmk6MzA%253D"),
        f"{API}/cursor?size=30&cursor=Pmk6OTkw",
        {
            "items": recs(991, 10),
            "total": TOTAL,
            "current_page": "Pmk6OTkw",
            "current_page_backwards": "PGk6MTAwMA%3D%3D",
            "previous_page": "PGk6OTkx",
            "next_page": None,
        },
    ),
    "json-server 0.17 (Link with rel=last, X-Total-Count)": Row(
        f"{API}/items?_page=1&_limit=30",
        recs(),
        PageNumberPaginator(base_page=1, page_param="_page", total_path=None),
        (33, f"{API}/items?_page=2&_limit=30", f"{API}/items?_page=34&_limit=30"),
        f"{API}/items?_page=34&_limit=30",
        recs(991, 10),
        headers={
            **link(
                (f"{API}/items?_page=1&_limit=30", "first"),
                (f"{API}/items?_page=2&_limit=30", "next"),
                (f"{API}/items?_page=34&_limit=30", "last"),
            ),
            "X-Total-Count": "1000",
        },
        last_headers={
            **link((f"{API}/items?_page=1&_limit=30", "first"), (f"{API}/items?_page=34&_limit=30", "last")),
            "X-Total-Count": "1000",
        },
    ),
    "json-server 1.x": Row(
        f"{API}/items?_page=1&_per_page=30",
        {"first": 1, "prev": None, "next": 2, "last": PAGES, "pages": PAGES, "items": TOTAL, "data": recs()},
        PageNumberPaginator(base_page=1, page_param="_page", total_path="pages"),
        (33, f"{API}/items?_page=2&_per_page=30", f"{API}/items?_page=34&_per_page=30"),
        f"{API}/items?_page=34&_per_page=30",
        {
            "first": 1,
            "prev": 33,
            "next": None,
            "last": PAGES,
            "pages": PAGES,
            "items": TOTAL,
            "data": recs(991, 10),
        },
    ),
    "Spring Data Page": Row(
        f"{API}/items?size=30",
        {
            "content": recs(),
            "totalPages": PAGES,
            "totalElements": TOTAL,
            "last": False,
            "number": 0,
            "size": 30,
        },
        PageNumberPaginator(base_page=0, page_param="page", total_path="totalPages"),
        (33, f"{API}/items?size=30&page=1", f"{API}/items?size=30&page=33"),
        f"{API}/items?size=30&page=33",
        {"content": recs(991, 10), "totalPages": PAGES, "totalElements": TOTAL, "last": True, "number": 33},
    ),
    "GitHub (Link with rel=last)": Row(
        f"{API}/repos/o/r/issues?per_page=30",
        recs(),
        PageNumberPaginator(base_page=1, page_param="page", total_path=None),
        (33, f"{API}/repos/o/r/issues?per_page=30&page=2", f"{API}/repos/o/r/issues?per_page=30&page=34"),
        f"{API}/repos/o/r/issues?per_page=30&page=34",
        recs(991, 10),
        headers=link(
            (f"{API}/repos/o/r/issues?per_page=30&page=2", "next"),
            (f"{API}/repos/o/r/issues?per_page=30&page=34", "last"),
        ),
        last_headers=link(
            (f"{API}/repos/o/r/issues?per_page=30&page=33", "prev"),
            (f"{API}/repos/o/r/issues?per_page=30&page=1", "first"),
        ),
    ),
    "Stripe (has_more, starting_after = the last id)": Row(
        f"{API}/v1/customers?limit=30",
        {
            "object": "list",
            "url": "/v1/customers",
            "has_more": True,
            "data": [{"id": f"cus_{i}"} for i in range(30)],
        },
        CursorPaginator("data.-1.id", "starting_after", has_more_path="has_more"),
        NextPage(f"{API}/v1/customers?limit=30&starting_after=cus_29"),
        f"{API}/v1/customers?limit=30&starting_after=cus_989",
        {"object": "list", "url": "/v1/customers", "has_more": False, "data": [{"id": "cus_990"}]},
    ),
    "Slack (response_metadata.next_cursor)": Row(
        f"{API}/api/users.list?limit=30",
        {"ok": True, "members": recs(), "response_metadata": {"next_cursor": "dXNlcjpVMEc5V0ZYTlo="}},
        CursorPaginator("response_metadata.next_cursor", "cursor"),
        NextPage(f"{API}/api/users.list?limit=30&cursor=dXNlcjpVMEc5V0ZYTlo%3D"),
        f"{API}/api/users.list?limit=30&cursor=bGFzdA%3D%3D",
        {"ok": True, "members": recs(991, 10), "response_metadata": {"next_cursor": ""}},
    ),
    "Google APIs (nextPageToken -> pageToken)": Row(
        f"{API}/drive/v3/files?pageSize=30",
        {"kind": "drive#fileList", "files": recs(), "nextPageToken": "tok-2"},
        CursorPaginator("nextPageToken", "pageToken"),
        NextPage(f"{API}/drive/v3/files?pageSize=30&pageToken=tok-2"),
        f"{API}/drive/v3/files?pageSize=30&pageToken=tok-34",
        {"kind": "drive#fileList", "files": recs(991, 10)},
    ),
    "Salesforce (nextRecordsUrl, done)": Row(
        f"{API}/services/data/v58.0/query?q=SELECT+Id+FROM+Account",
        {
            "totalSize": TOTAL,
            "done": False,
            "nextRecordsUrl": "/services/data/v58.0/query/01g-30",
            "records": recs(),
        },
        JSONLinkPaginator("nextRecordsUrl"),
        NextPage(f"{API}/services/data/v58.0/query/01g-30"),
        f"{API}/services/data/v58.0/query/01g-990",
        {"totalSize": TOTAL, "done": True, "records": recs(991, 10)},
    ),
    "HubSpot (paging.next.after)": Row(
        f"{API}/crm/v3/objects/contacts?limit=30",
        {
            "results": recs(),
            "paging": {"next": {"after": "NTI1Cg%3D%3D", "link": f"{API}/x?after=NTI1Cg%3D%3D"}},
        },
        CursorPaginator("paging.next.after", "after"),
        NextPage(f"{API}/crm/v3/objects/contacts?limit=30&after=NTI1Cg%253D%253D"),
        f"{API}/crm/v3/objects/contacts?limit=30&after=OTkw",
        {"results": recs(991, 10)},
    ),
    "Notion (has_more, next_cursor -> start_cursor)": Row(
        f"{API}/v1/blocks/b1/children?page_size=30",
        {"object": "list", "results": recs(), "next_cursor": "fe2cc560", "has_more": True, "type": "block"},
        CursorPaginator("next_cursor", "start_cursor", has_more_path="has_more"),
        NextPage(f"{API}/v1/blocks/b1/children?page_size=30&start_cursor=fe2cc560"),
        f"{API}/v1/blocks/b1/children?page_size=30&start_cursor=aa00",
        {"object": "list", "results": recs(991, 10), "next_cursor": None, "has_more": False, "type": "block"},
    ),
    "Relay pageInfo (GraphQL over GET)": Row(
        f"{API}/graphql?query=q",
        {
            "data": {
                "products": {
                    "edges": [{"node": r, "cursor": f"c{r['id']}"} for r in recs()],
                    "pageInfo": {"hasNextPage": True, "endCursor": "c30"},
                }
            }
        },
        CursorPaginator(
            "data.products.pageInfo.endCursor", "after", has_more_path="data.products.pageInfo.hasNextPage"
        ),
        NextPage(f"{API}/graphql?query=q&after=c30"),
        f"{API}/graphql?query=q&after=c990",
        {
            "data": {
                "products": {
                    "edges": [{"node": {"id": 991}}],
                    "pageInfo": {"hasNextPage": False, "endCursor": "c991"},
                }
            }
        },
    ),
}


def context(url: str, body: Any, headers: dict[str, str], *, number: int = 1, received: int = 0):
    """A page as the engine gives it (no record_path: auto finds the records), with the stream's tally of the
    ``number - 1`` pages and ``received`` records before it."""
    memo: dict[str, Any] = {"_completeness": {"pages": number - 1, "records": received}}
    return PageContext(url, Page(url, body, headers), number, 1, memo, counted=False)


@pytest.mark.parametrize("name", ROWS)
def test_the_first_page_gives_the_style_and_the_next_request(name):
    row = ROWS[name]
    assert detect(Page(row.url, row.body, row.headers)) == row.expected
    step = AutoPaginator().next_step(context(row.url, row.body, row.headers))
    if isinstance(row.next, NextPage):
        assert step == row.next
    else:
        count, first, last = row.next
        assert isinstance(step, FanOut) and step.count == count
        urls = list(step.urls)
        assert (urls[0], urls[-1]) == (first, last)


@pytest.mark.parametrize("name", ROWS)
def test_the_first_page_says_there_is_more_and_the_last_page_completes_the_stream(name):
    row = ROWS[name]
    first = context(row.url, row.body, row.headers)
    assert signs_of_more(first, received=30) is not None  # stopping here would lose records
    auto = AutoPaginator()
    auto.next_step(first)  # the stream's choice, kept in its memo
    last = context(row.last_url, row.last_body, row.last_headers, number=PAGES, received=990)
    last.memo.update({k: v for k, v in first.memo.items() if k != "_completeness"})
    assert signs_of_more(last, received=TOTAL) is None  # nothing on the last page says there is more
    step = auto.next_step(last)  # (a fan-out's last page decides nothing; walked page after page it may ask
    assert not isinstance(step, Broken), step  # for the empty page after it, never report it incomplete)


@pytest.mark.parametrize("name", ROWS)
def test_a_single_page_of_that_shape_is_reported_incomplete_not_complete(name):
    row = ROWS[name]
    step = _single_page_auto(row)
    assert isinstance(step, Broken) and step.stop == "more indicated"
    assert step.error.startswith("stream stopped after 1 page (single page) but ")


def _single_page_auto(row: Row):
    """What auto's fallback says about the first page: as if no row had matched."""
    auto = AutoPaginator()
    ctx = context(row.url, row.body, row.headers)
    ctx.memo["auto"] = SinglePagePaginator()
    ctx.memo["auto_records"] = find_records(row.body)
    return auto.next_step(ctx)


def test_every_named_shape_has_a_table_row_here():
    tested = {detect(Page(r.url, r.body, r.headers)).to_dict()["type"] for r in ROWS.values()}  # type: ignore[union-attr]
    assert tested >= {"page_number", "offset", "cursor", "json_link"}
    names = {s.name for s in NAMED}
    assert len(names) == len(NAMED) and len(SHAPES) > len(NAMED)


# ---- the silent-loss cases of the issue, without a server ------------------------------------------------


def test_regression_fastapi_page_is_not_a_single_complete_page():
    body = {"items": recs(), "total": TOTAL, "page": 1, "size": SIZE, "pages": PAGES}
    step = AutoPaginator().next_step(context(f"{API}/page?size=30", body, {}))
    assert isinstance(step, FanOut) and step.count == PAGES - 1


def test_regression_fastapi_cursor_page_is_followed():
    body = ROWS["fastapi-pagination CursorPage"].body
    step = AutoPaginator().next_step(context(f"{API}/cursor?size=30", body, {}))
    assert isinstance(step, NextPage)


def test_regression_a_total_above_the_records_makes_a_stop_a_reported_failure():
    body = {"records": recs(), "total": TOTAL}  # no signal auto knows how to follow
    step = AutoPaginator().next_step(context(f"{API}/things", body, {}))
    assert step == Broken(
        "stream stopped after 1 page (single page) but the body's 'total' says 1000 records (30 received)",
        stop="more indicated",
    )


@pytest.mark.parametrize(
    ("body", "headers", "sign"),
    [
        ({"data": recs(), "has_more": True}, {}, "the body says has_more=true"),
        ({"data": recs(), "meta": {"hasMore": True}}, {}, None),  # a path nobody uses: not a sign
        ({"data": recs()}, {"X-Total-Count": "1000"}, "header X-Total-Count says 1000 records (30 received)"),
        ({"data": recs(), "totalPages": 3}, {}, "the body's 'totalPages' says 3 pages"),
        (
            {"data": recs(), "done": False, "nextRecordsUrl": "/q/2"},
            {},
            "the body's 'nextRecordsUrl' names a next",
        ),
        ({"data": recs(), "has_more": False, "next_page": "x"}, {}, None),  # the API says it is done
        ({"data": recs(), "total": 30}, {}, None),
    ],
)
def test_signs_of_more(body, headers, sign):
    found = signs_of_more(context(f"{API}/x", body, headers), received=30)
    assert (found is None) if sign is None else (found is not None and found.startswith(sign))


def test_prefer_next_link_follows_the_link_although_a_total_is_known():
    row = ROWS["Django REST framework LimitOffsetPagination"]
    page = Page(row.url, row.body, row.headers)
    assert detect(page, prefer_next_link=True) == JSONLinkPaginator("next")
    step = AutoPaginator(prefer_next_link=True).next_step(context(row.url, row.body, row.headers))
    assert step == NextPage(f"{API}/items/?limit=30&offset=30")


def test_a_record_path_given_wins_over_the_found_list():
    body = {"results": recs(), "count": 45, "next": f"{API}/items/?page=2"}
    ctx = PageContext(f"{API}/items/", Page(f"{API}/items/", body, {}), 1, 15, counted=True)
    step = AutoPaginator().next_step(ctx)  # 15 records a page at the run's record_path: 3 pages
    assert isinstance(step, FanOut) and step.count == 2
