"""Request objects from ``url_maker``: method, body, headers, ids — on both backends, against the demo API
(its batch endpoint answers 400 above 100 ids per request), with the retry rules of non-idempotent methods."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import timedelta

import pytest

from airflow_provider_bulk_uploader import (
    GraphQLError,
    HeaderAuth,
    ListStore,
    Ratelimit,
    Request,
    UploadedData,
)
from airflow_provider_bulk_uploader.engine.errors import HTTPStatusError, TransportError
from airflow_provider_bulk_uploader.engine.requests import encode_body, resend_safe
from airflow_provider_bulk_uploader.testing import max_in_window, running_demo_api
from tests.support.net import closed_port
from tests.unit.engine.conftest import BACKENDS, fast_policy, secret

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    with running_demo_api() as api:
        yield api


@pytest.fixture
def demo(server):
    server.reset()
    return server


def run(url_maker, **settings):
    store = ListStore()
    settings.setdefault("progress_interval", 0)
    auth = settings.pop("auth", None)
    report = asyncio.run(UploadedData(store, url_maker=url_maker, **settings).run(auth))
    return report, store


def batch_posts(base: str, ids: range, per: int) -> list[Request]:
    return [
        Request(f"{base}/batch/items", "POST", json={"ids": list(ids[i : i + per])}, ids=ids[i : i + per])
        for i in range(0, len(ids), per)
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_batched_posts_and_gets_every_record_once_rate_limit_held_at_the_server(demo, backend):
    ids = range(2000)
    posts = batch_posts(demo.url, ids[:1000], 100)
    gets = [
        Request(f"{demo.url}/batch/items?ids=" + ",".join(map(str, ids[i : i + 100])), ids=ids[i : i + 100])
        for i in range(1000, 2000, 100)
    ]
    report, store = run(
        posts + gets,
        http_backend=backend,
        rate_limit=Ratelimit(8, timedelta(seconds=1)),
    )
    assert report.failed == 0 and report.succeeded == 20 and report.attempts == 20
    assert (report.ids_requested, report.ids_succeeded, report.ids_failed) == (2000, 2000, 0)
    records = [r["id"] for body in store.saved_data() for r in body["data"]]
    assert sorted(records) == list(ids)
    seen = [r for r in demo.requests if r.route == "/batch/items"]
    assert sorted(r.method for r in seen) == ["GET"] * 10 + ["POST"] * 10
    assert all(json.loads(r.body)["ids"] for r in seen if r.method == "POST")
    assert max_in_window([r.arrival for r in seen], 1.0) <= 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_chunk_is_one_failure_listing_its_ids_and_not_retried(demo, backend):
    ids = range(1000)
    requests = [r.with_url(r.url + "?fail_id=420") for r in batch_posts(demo.url, ids, 100)]
    requests.append(
        Request(f"{demo.url}/batch/items", "POST", json={"ids": list(range(101))}, ids=range(101))
    )
    report, _store = run(requests, http_backend=backend, retry_policy=fast_policy(5))
    assert report.failed == 2 and report.succeeded == 9
    failed = {f.status: f for f in report.failures}
    assert failed[500].ids == tuple(range(400, 500)) and failed[500].attempts == 1  # POST 500: never resent
    assert failed[400].ids == tuple(range(101))
    assert failed[500].to_dict()["method"] == "POST" and failed[500].to_dict()["ids"] == list(range(400, 500))
    assert "POST" in failed[500].error
    assert (report.ids_requested, report.ids_succeeded, report.ids_failed) == (1101, 900, 201)
    assert len([r for r in demo.requests if r.route == "/batch/items"]) == 11


@pytest.mark.parametrize("backend", BACKENDS)
def test_post_dropped_after_the_server_read_it_is_not_resent_by_default(demo, backend):
    key = uuid.uuid4().hex
    request = Request(f"{demo.url}/flaky/{key}?fails=1&status=0", "POST", json={"q": "x"})
    report, _ = run([request], http_backend=backend, retry_policy=fast_policy(5))
    assert report.failed == 1 and report.attempts == 1
    assert "not retried" in report.failures[0].error and "retry_non_idempotent" in report.failures[0].error
    assert [r.status for r in demo.requests if r.path == f"/flaky/{key}"] == [0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_post_dropped_is_resent_with_retry_non_idempotent(demo, backend):
    key = uuid.uuid4().hex
    request = Request(f"{demo.url}/flaky/{key}?fails=1&status=0", "POST", json={"q": "x"})
    report, store = run(
        [request], http_backend=backend, retry_policy=fast_policy(5), retry_non_idempotent=True
    )
    assert report.failed == 0 and report.attempts == 2
    assert store.saved_data() == [{"key": key, "attempt": 2}]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("query", "attempts", "ok"),
    [
        ("status=429&retry_after=0", 2, True),  # refused by the quota: safe to resend
        ("status=503&retry_after=0", 2, True),  # the server says it did not take it, and when to return
        ("status=503", 1, False),  # a bare 503 may come after the work was done
        ("status=500", 1, False),
    ],
)
def test_post_retried_only_when_the_server_cannot_have_processed_it(demo, backend, query, attempts, ok):
    key = uuid.uuid4().hex
    request = Request(f"{demo.url}/flaky/{key}?fails=1&{query}", "POST", json={"q": 1})
    report, _ = run([request], http_backend=backend, retry_policy=fast_policy(5))
    assert (report.attempts, report.failed == 0) == (attempts, ok)


def test_put_and_get_are_idempotent_post_and_patch_are_not():
    assert Request("https://a.test/x", "PUT").idempotent and Request("https://a.test/x").idempotent
    assert not Request("https://a.test/x", "POST").idempotent
    assert not Request("https://a.test/x", "PATCH").idempotent


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_connection_is_resent_even_for_a_post(backend):
    request = Request(f"http://127.0.0.1:{closed_port()}/batch/items", "POST", json={"ids": [1]})
    report, _ = run([request], http_backend=backend, retry_policy=fast_policy(3))
    assert report.failed == 1 and report.attempts == 3, report.failures


def test_resend_safe_classification():
    assert resend_safe(TransportError("x", url="u", not_sent=True))
    assert not resend_safe(TransportError("x", url="u"))
    assert resend_safe(HTTPStatusError(url="u", status=429))
    assert resend_safe(HTTPStatusError(url="u", status=503, retry_after=1.0))
    assert not resend_safe(HTTPStatusError(url="u", status=503))
    assert not resend_safe(HTTPStatusError(url="u", status=502))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bodies_never_in_logs_or_failures(demo, backend, caplog):
    marker = f"body-marker-{uuid.uuid4().hex}"
    requests = [
        Request(f"{demo.url}/status/500", "POST", json={"filter": marker}),
        Request(f"{demo.url}/batch/items", "POST", json={"ids": [1], "note": marker}),
        Request(f"{demo.url}/flaky/{uuid.uuid4().hex}?fails=1&status=0", "POST", data={"f": marker}),
    ]
    with caplog.at_level(logging.DEBUG):
        report, _ = run(requests, http_backend=backend, retry_policy=fast_policy(2))
    assert report.failed == 2
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "POST" in text and marker not in text
    assert all(marker not in json.dumps(f.to_dict()) for f in report.failures)
    assert all(marker not in repr(r) for r in requests)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("code", [307, 302])
def test_post_redirected_to_another_origin_gets_no_credentials(demo, backend, code):
    token = secret()
    with running_demo_api() as other:
        target = f"{other.url}/batch/items?ids=1,2"
        request = Request(f"{demo.url}/redirect?to={target}&code={code}", "POST", json={"ids": [1, 2]})
        report, store = run([request], http_backend=backend, auth=HeaderAuth("X-API-Key", token))
        assert report.failed == 0, report.failures
        (arrived,) = [r for r in other.requests if r.route == "/batch/items"]
    first = next(r for r in demo.requests if r.route == "/redirect")
    assert first.headers.get("X-API-Key") == token  # the origin of the request got them
    assert "X-API-Key" not in arrived.headers and token not in json.dumps(arrived.headers)
    if code == 307:  # method and body kept
        assert arrived.method == "POST" and json.loads(arrived.body) == {"ids": [1, 2]}
    else:  # 302 after a POST: a body-less GET, as httpx and browsers do
        assert arrived.method == "GET" and not arrived.body
    assert [r["id"] for r in store.saved_data()[0]["data"]] == [1, 2]


def test_string_urls_with_a_method_replace_the_seeds_post_call(demo):
    urls = [f"{demo.url}/batch/items?ids={i}" for i in range(5)]
    report, _store = run(urls, method="POST")
    assert report.succeeded == 5
    assert {r.method for r in demo.requests if r.route == "/batch/items"} == {"POST"}


def test_the_seeds_hand_written_post_call_still_works(demo):
    import httpx

    from airflow_provider_bulk_uploader.interfaces import APICall

    class PostAPICall(APICall):  # the original spec's example, verbatim
        def __init__(self, client: httpx.AsyncClient, url: str, retry_policy=None):
            self.client = client
            self.url = url
            self.retry_policy = retry_policy

        async def content(self):
            """Fetch and return data from the URL"""
            response = await self.client.post(self.url)
            return response.json()

    urls = [f"{demo.url}/batch/items?ids={i},{i + 1}" for i in range(0, 10, 2)]
    report, store = run(urls, api_call_factory=PostAPICall)
    assert report.succeeded == 5
    assert sorted(r["id"] for body in store.saved_data() for r in body["data"]) == list(range(10))
    # a Request in the same run is sent by the built-in call, not by the custom factory
    report, store = run(
        [Request(f"{demo.url}/batch/items", "POST", json={"ids": [7]})], api_call_factory=PostAPICall
    )
    assert store.saved_data()[0]["data"][0]["id"] == 7


def test_graphql_errors_without_data_are_a_failure():
    from airflow_provider_bulk_uploader.engine.requests import check_graphql

    request = Request("https://api.test/graphql", "POST", json={"query": "{ x }"})
    with pytest.raises(GraphQLError, match="Cannot query field 'x'"):
        check_graphql(request, {"errors": [{"message": "Cannot query field 'x'"}], "data": None})
    assert check_graphql(request, {"errors": [{"message": "partial"}], "data": {"x": 1}})["data"] == {"x": 1}


def test_request_validation():
    with pytest.raises(ValueError, match="method must be one of"):
        Request("https://a.test/x", "DELETE")
    with pytest.raises(ValueError, match="absolute http"):
        Request("/relative", "POST")
    with pytest.raises(ValueError, match="json= or data="):
        Request("https://a.test/x", "POST", json={}, data="x")
    with pytest.raises(ValueError, match="control characters"):
        Request("https://a.test/x", headers={"X-A": "a\r\nb"})
    assert Request("https://a.test/x", "post").method == "POST"
    assert encode_body(Request("https://a.test/x", "POST", data={"a": [1, 2], "b": "c"})) == (
        b"a=1&a=2&b=c",
        "application/x-www-form-urlencoded",
    )
    assert encode_body(Request("https://a.test/x", "POST", json={"ids": [1]}))[1] == "application/json"
