"""A real GraphQL server (strawberry on uvicorn, :mod:`airflow_provider_bulk_uploader.testing.graphql_api`):
a Relay connection of 1 000 nodes walked to the end through a cursor in the body's ``variables``, a query
the server refuses reported with the server's message, and a body-cursor stream resumed at its next cursor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, Request, UploadedData
from airflow_provider_bulk_uploader.engine.interfaces import PageSource
from airflow_provider_bulk_uploader.storage.units import stream_pages
from airflow_provider_bulk_uploader.testing.graphql_api import running_graphql_api
from tests.unit.engine.conftest import BACKENDS

pytestmark = pytest.mark.integration

QUERY = """
query Issues($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(first: 100, after: $after) {
      totalCount
      edges { cursor node { id number title } }
      pageInfo { endCursor hasNextPage }
    }
  }
}
"""
CONNECTION = "data.repository.issues"
PAGINATOR = {
    "type": "cursor",
    "cursor_path": f"{CONNECTION}.pageInfo.endCursor",
    "cursor_body_path": "variables.after",
    "has_more_path": f"{CONNECTION}.pageInfo.hasNextPage",
}


@pytest.fixture(scope="module")
def graphql():
    with running_graphql_api(issues=1000) as api:
        yield api


def issues_request(url: str, query: str = QUERY, **kwargs: Any) -> Request:
    variables = {"owner": "apache", "name": "airflow", "after": None}
    return Request(url, "POST", json={"query": query, "variables": variables}, **kwargs)


def connection(body: Any) -> Any:
    return body["data"]["repository"]["issues"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_relay_connection_walked_to_the_end_through_the_body_cursor(graphql, backend):
    graphql.requests.clear()
    store = ListStore()
    report = asyncio.run(
        UploadedData(
            store,
            url_maker=[issues_request(graphql.url)],
            paginator=PAGINATOR,
            record_path=f"{CONNECTION}.edges",
            http_backend=backend,
            progress_interval=0,
        ).run()
    )
    pages = store.saved_data()
    numbers = [edge["node"]["number"] for page in pages for edge in connection(page)["edges"]]
    assert sorted(numbers) == list(range(1, 1001)) and len(set(numbers)) == 1000, "every node once"
    assert connection(pages[-1])["pageInfo"]["hasNextPage"] is False
    (stream,) = report.streams
    assert (stream.pages, stream.records, stream.complete, stream.stop) == (10, 1000, True, "has_more false")
    assert report.failed == 0 and report.attempts == 10
    # each request sent the previous page's endCursor in variables.after, the rest of the body unchanged
    afters = [body["variables"]["after"] for body in graphql.requests]
    assert afters == [None] + [connection(p)["pageInfo"]["endCursor"] for p in pages[:-1]]
    assert all(body["query"] == QUERY and body["variables"]["owner"] == "apache" for body in graphql.requests)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_query_the_server_refuses_is_a_failure_with_its_message(graphql, backend):
    store = ListStore()
    too_many = QUERY.replace("first: 100", "first: 500")
    report = asyncio.run(
        UploadedData(
            store,
            url_maker=[issues_request(graphql.url, too_many)],
            http_backend=backend,
            progress_interval=0,
        ).run()
    )
    assert report.failed == 1 and report.succeeded == 0 and store.saved_data() == []
    (failure,) = report.failures
    assert "first must be between 1 and 100, got 500" in failure.error
    assert failure.status == 200 and failure.attempts == 1 and failure.method == "POST"


def test_unknown_field_is_a_failure_naming_it(graphql):
    report = asyncio.run(
        UploadedData(
            ListStore(),
            url_maker=[issues_request(graphql.url, QUERY.replace("totalCount", "totalCuont"))],
            progress_interval=0,
        ).run()
    )
    (failure,) = report.failures
    assert "totalCuont" in failure.error


class RecordingStore:
    """A ResumableStore: keeps the bodies and the PageSource of each (what a checkpoint records)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.sources: list[Any] = []

    def add(self, item: Any) -> None:
        self.items.append(item)

    def add_batch_from(self, sources: list[Any], items: list[Any]) -> None:
        self.sources += sources
        self.items += items

    def saved_data(self) -> list[Any]:
        return self.items


def test_a_body_cursor_stream_resumes_at_its_next_cursor(graphql):
    paginator = {**PAGINATOR, "max_pages": 4}  # "stopped" after 4 pages
    first = RecordingStore()
    asyncio.run(
        UploadedData(
            first,
            url_maker=[issues_request(graphql.url, unit=0)],
            paginator=paginator,
            record_path=f"{CONNECTION}.edges",
            progress_interval=0,
            batch_size=1,
        ).run()
    )
    sources = first.sources
    assert all(isinstance(s, PageSource) and s.stream_unit == 0 for s in sources)
    last = sources[2]  # pretend pages 1..3 were stored: continue after page 3
    assert last.after["body"] == {"variables.after": connection(first.items[2])["pageInfo"]["endCursor"]}
    entry = {"stored": [[1, 3]], "last": [last.number, last.after]}
    resume = stream_pages(entry)
    graphql.requests.clear()
    second = ListStore()
    report = asyncio.run(
        UploadedData(
            second,
            url_maker=[issues_request(graphql.url, unit=0, resume_pages=resume)],
            paginator=PAGINATOR,
            record_path=f"{CONNECTION}.edges",
            progress_interval=0,
        ).run()
    )
    assert graphql.requests[0]["variables"]["after"] == last.after["body"]["variables.after"]
    numbers = [e["node"]["number"] for p in second.saved_data() for e in connection(p)["edges"]]
    assert numbers == list(range(301, 1001)), "only the pages after the stored ones"
    assert report.streams[0].complete
