"""BulkFetchHook and provider registration, without a metadata database."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import BasicAuth, BearerAuth, HeaderAuth, ListStore, QueryParamsAuth
from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError, BulkFetchHook
from tests.support.net import closed_port
from tests.unit.provider.conftest import QUERY_AUTH_NAME, TOKEN, conn_json

BASE = "http://api.test/v1"


def test_settings_from_json_connection(set_conn):
    set_conn(
        host=BASE + "/",
        password=TOKEN,
        extra={
            "auth_type": "query",
            "auth_name": "api_key",
            "rate_limit_requests": "7",
            "rate_limit_period_seconds": 2,
            "max_concurrency": 3,
            "timeout_seconds": "4.5",
            "headers": '{"Accept": "application/json"}',
            "verify_ssl": "false",
        },
    )
    hook = BulkFetchHook()
    s = hook.get_settings()
    assert s.base_url == BASE
    assert (s.rate_limit_requests, s.rate_limit_period_seconds, s.max_concurrency) == (7, 2.0, 3)
    assert s.timeout_seconds == 4.5 and s.verify_ssl is False
    assert s.headers == {"Accept": "application/json"}
    auth = hook.get_auth()
    assert isinstance(auth, QueryParamsAuth) and TOKEN not in repr(auth)
    assert s.with_overrides(rate_limit_requests=2, max_concurrency=None).rate_limit_requests == 2


def test_overrides_replace_only_what_is_given_and_reach_the_engine(set_conn):
    set_conn(
        host=BASE,
        extra={
            "rate_limit_requests": 7,
            "rate_limit_period_seconds": 2,
            "max_concurrency": 3,
            "timeout_seconds": 4,
        },
    )
    hook = BulkFetchHook()
    s = hook.get_settings()
    o = s.with_overrides(rate_limit_requests="2", max_concurrency=None, timeout_seconds=0.5)
    # given: replaced (and coerced like a connection field); None: the connection's value stays
    assert (o.rate_limit_requests, o.max_concurrency, o.rate_limit_period_seconds, o.timeout_seconds) == (
        2,
        3,
        2.0,
        0.5,
    )
    assert (s.rate_limit_requests, s.timeout_seconds) == (7, 4.0)  # the connection's settings are untouched
    uploader = hook.build_uploader([f"{BASE}/x"], ListStore(), settings=o)
    assert uploader.rate_limit is not None
    assert (uploader.rate_limit.num_requests, uploader.rate_limit.period.total_seconds()) == (2, 2.0)
    assert (uploader.max_concurrency, uploader.timeout) == (3, 0.5)
    with pytest.raises(BulkFetchConfigError, match="operator argument 'timeout_seconds' must be > 0, got -1"):
        s.with_overrides(timeout_seconds=-1)


@pytest.mark.parametrize(
    ("auth_type", "extra", "login", "expected"),
    [
        ("header", {"auth_name": "X-Key"}, None, HeaderAuth),
        ("bearer", {}, None, BearerAuth),
        ("basic", {}, "alice", BasicAuth),
        ("none", {}, None, type(None)),
    ],
)
def test_auth_types(set_conn, auth_type, extra, login, expected):
    set_conn(host=BASE, password=TOKEN, login=login, extra={"auth_type": auth_type, **extra})
    assert isinstance(BulkFetchHook().get_auth(), expected)


def test_host_without_scheme_uses_schema_and_port(set_conn):
    set_conn(host="api.test", schema="http", port=8080, password=TOKEN)
    assert BulkFetchHook().get_settings().base_url == "http://api.test:8080"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"extra": {"auth_type": "oauth"}},
            "'auth_type' must be one of header, query, bearer, basic, oauth2_client_credentials, none",
        ),
        ({"extra": {"auth_type": "query"}}, "'auth_name' is required with auth_type 'query'"),
        (
            {"password": None, "extra": {"auth_type": "bearer"}},
            "needs the API token in the connection's Password",
        ),
        ({"extra": {"auth_type": "basic"}}, "'basic' needs a Login"),
        (
            {"extra": {"rate_limit_requests": "ten"}},
            "'rate_limit_requests' must be a whole number, got 'ten'",
        ),
        ({"extra": {"rate_limit_period_seconds": 0}}, "'rate_limit_period_seconds' must be > 0, got 0"),
        ({"extra": {"headers": "{not json"}}, "'headers' must be a JSON object"),
        (
            {"extra": {"headers": "[1]"}},
            "'headers' must be a JSON object of header names to values, got list",
        ),
        ({"extra": {"verify_ssl": "maybe"}}, "'verify_ssl' must be true or false, got 'maybe'"),
        ({"host": ""}, "the Base URL (host) is empty"),
    ],
)
def test_invalid_connection_errors_name_the_field(set_conn, fields, message):
    set_conn(**{"host": BASE, "password": TOKEN, **fields})
    with pytest.raises(BulkFetchConfigError) as info:
        BulkFetchHook().get_settings()
    assert message in str(info.value)
    assert "'bulk_fetch_default'" in str(info.value)
    assert TOKEN not in str(info.value)


def test_uri_round_trip_used_by_the_test_button(monkeypatch):
    """The API server's Test button exports the form as a URI; the hook must read it back."""
    from airflow.models.connection import Connection

    conn = Connection(
        conn_id="tmp",
        conn_type="bulk_fetch",
        host=BASE,
        password="p@ss/w:rd",
        extra=json.dumps({"auth_type": "bearer", "rate_limit_requests": 3}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_TMP", conn.get_uri())
    hook = BulkFetchHook("tmp")
    assert hook.get_settings().base_url == BASE
    assert hook.get_settings().rate_limit_requests == 3
    assert isinstance(hook.get_auth(), BearerAuth)


@respx.mock
def test_test_connection_ok_and_failure(set_conn):
    set_conn(host=BASE, password=TOKEN, extra={"auth_type": "header", "test_path": "/health"})
    route = respx.get(BASE + "/health").mock(return_value=httpx.Response(200, json={"ok": True}))
    ok, message = BulkFetchHook().test_connection()
    assert ok and "HTTP 200" in message
    assert route.calls.last.request.headers["X-API-Key"] == TOKEN
    route.mock(return_value=httpx.Response(403))
    ok, message = BulkFetchHook().test_connection()
    assert not ok and "403" in message and TOKEN not in message


def test_test_connection_reports_config_errors(set_conn):
    set_conn(host=BASE, password=TOKEN, extra={"auth_type": "nope"})
    ok, message = BulkFetchHook().test_connection()
    assert not ok and "auth_type" in message


def test_test_connection_never_shows_a_query_token(query_auth_api, set_conn):
    """A server that answers (404 under query auth): the message names the URL, and the URL has no token."""
    api = query_auth_api
    set_conn(
        host=api.url,
        password=TOKEN,
        extra={"auth_type": "query", "auth_name": QUERY_AUTH_NAME, "test_path": "/no-such-page"},
    )
    ok, message = BulkFetchHook().test_connection()
    assert not ok and "HTTP 404" in message
    assert f"GET {api.url}/no-such-page" in message and TOKEN not in message
    (request,) = api.requests
    assert request.query[QUERY_AUTH_NAME] == TOKEN  # the token was in the URL that was requested


def test_test_connection_error_message_has_no_query_token(set_conn):
    """No answer at all (connection refused): the transport's error text has no token either."""
    port = closed_port()
    set_conn(
        host=f"http://127.0.0.1:{port}",
        password=TOKEN,
        extra={"auth_type": "query", "auth_name": QUERY_AUTH_NAME},
    )
    ok, message = BulkFetchHook().test_connection()
    assert not ok and message.startswith("GET failed: ConnectError") and TOKEN not in message


@respx.mock
def test_fetch_with_httpx_backend(set_conn):
    set_conn(
        host=BASE, password=TOKEN, extra={"auth_type": "bearer", "headers": {"Accept": "application/json"}}
    )
    route = respx.get(url__startswith=BASE + "/items/").mock(
        side_effect=lambda request: httpx.Response(200, json={"path": request.url.path})
    )
    store = ListStore()
    report = BulkFetchHook().fetch([f"{BASE}/items/{i}" for i in range(5)], store, http_backend="httpx")
    assert report.succeeded == 5 and report.failed == 0
    assert sorted(r["path"] for r in store.saved_data()) == [f"/v1/items/{i}" for i in range(5)]
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"


def test_hook_runs_the_engine_with_the_connection_limits_and_settle(set_conn):
    set_conn(host=BASE, password=TOKEN, extra={"rate_limit_requests": 7, "max_concurrency": 3})
    uploader = BulkFetchHook().build_uploader([f"{BASE}/items/1"], ListStore())
    assert uploader.rate_limit is not None and uploader.rate_limit.num_requests == 7
    assert uploader.max_concurrency == 3
    # back-to-back tasks with fresh limiters must not crowd one window: each waits its window out
    assert uploader.settle is True


def test_fetch_against_the_demo_api(api, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DEMO", conn_json(api.url, rate_limit_requests=500))
    store = ListStore()
    report = BulkFetchHook("demo").fetch([f"{api.url}/items/{i}" for i in range(20)], store)
    assert report.succeeded == 20
    assert sorted(r["id"] for r in store.saved_data()) == list(range(20))


def test_cancel_before_start_is_honoured(set_conn):
    set_conn(host=BASE, password=TOKEN)
    hook = BulkFetchHook()
    hook.cancel()
    import asyncio

    with pytest.raises(asyncio.CancelledError):
        hook.fetch([BASE + "/x"], ListStore())


@pytest.mark.parametrize(
    ("token", "expected"), [(TOKEN, True), ("wrong-token", False)], ids=["right", "wrong"]
)
def test_the_ui_test_button_path(api, monkeypatch, token, expected):
    """What the API server's POST /connections/test does: export the form as a URI, call test_connection()."""
    from airflow.models.connection import Connection

    conn = Connection(
        conn_id="transient_x1",
        conn_type="bulk_fetch",
        host=api.url,
        password=token,
        extra=json.dumps({"auth_type": "header", "auth_name": "X-API-Key", "test_path": "/health"}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_TRANSIENT_X1", conn.get_uri())
    ok, message = conn.test_connection()
    assert ok is expected, message
    assert ("HTTP 200" if expected else "HTTP 403") in message
    assert token not in message
