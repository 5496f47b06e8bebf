"""OAuth2 client credentials against a real authorization server (issue 24): Authlib's AuthorizationServer
(client-credentials grant, tokens of 2 s) in front of an API that checks every bearer token with Authlib's
ResourceProtector, on another loopback origin (tests/support/oauth2_server.py), on both backends.

* a ~10 s run fetches every id once with about run/lifetime token requests — not one per request, not one
  per worker — and the API never receives a 401 it did not have to;
* a token revoked mid-run: the refused requests are sent once more after one renewal;
* a wrong client secret stops the run with an error naming the token URL (never the secret);
* the client secret only ever reaches the token URL, the access tokens only the API;
* client_secret_post, scope, audience and extra parameters reach the server; a 429 from it is waited out;
* the hook's Test button against the real server says which step failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from datetime import timedelta

import pytest

from airflow_provider_bulk_uploader import (
    AuthenticationError,
    ListStore,
    OAuth2ClientCredentials,
    Ratelimit,
    UploadedData,
)
from tests.support.oauth2 import OAuth2Server, running_oauth2_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

BACKENDS = ("aiohttp", "httpx")
EXPIRES_IN = 2.0


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory):
    with running_oauth2_server(tmp_path_factory.mktemp("oauth2"), expires_in=EXPIRES_IN) as server:
        yield server


def _auth(oauth: OAuth2Server, **kwargs) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        oauth.token_url, oauth.client_id, oauth.client_secret, scope="read", **kwargs
    )


def _since(oauth: OAuth2Server, tokens_before: int, api_before: dict) -> tuple[list[dict], dict, dict]:
    """Token requests, API hits and API statuses since the snapshot (the server is shared by the module)."""
    tokens = oauth.token_stats()["token_requests"][tokens_before:]
    api = oauth.api_stats()
    hits = {int(k): v - api_before["hits"].get(k, 0) for k, v in api["hits"].items()}
    statuses = {int(k): v - api_before["statuses"].get(k, 0) for k, v in api["statuses"].items()}
    return tokens, {k: v for k, v in hits.items() if v}, {k: v for k, v in statuses.items() if v}


def _snapshot(oauth: OAuth2Server) -> tuple[int, dict]:
    return len(oauth.token_stats()["token_requests"]), oauth.api_stats()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_10s_run_fetches_every_id_once_with_about_run_over_lifetime_token_requests(oauth, backend, caplog):
    caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
    ids = range(200)
    auth = _auth(oauth)
    before = _snapshot(oauth)
    started = time.monotonic()
    report = asyncio.run(
        UploadedData(
            ListStore(),
            url_maker=[f"{oauth.api_url}/items/{i}" for i in ids],
            rate_limit=Ratelimit(20, timedelta(seconds=1)),  # 200 ids at 20/s: ~10 s, five token lifetimes
            max_concurrency=8,
            http_backend=backend,
            progress_interval=0,
        ).run(auth=auth)
    )
    elapsed = time.monotonic() - started
    tokens, hits, statuses = _since(oauth, *before)
    print(
        f"{backend}: {len(ids)} ids in {elapsed:.1f} s, {len(tokens)} token requests "
        f"(run/lifetime = {elapsed / EXPIRES_IN:.1f}), API statuses {statuses}, report {report}"
    )
    assert report.succeeded == len(ids) and report.failed == 0
    assert hits == dict.fromkeys(ids, 1), "every id fetched exactly once"
    assert elapsed > 8.0
    # dynamic credentials keep the built-in GET on the aiohttp fast path (it needed static ones before)
    assert f"backend {'aiohttp (fast path)' if backend == 'aiohttp' else 'httpx'}" in caplog.text
    # renewed 0.2 s before each 2 s lifetime ends: one token per 1.8 s, plus the first; never one per
    # request (200) nor per worker (8 at the start)
    assert math.floor(elapsed / EXPIRES_IN) <= len(tokens) <= math.ceil(elapsed / (EXPIRES_IN * 0.9)) + 1
    assert tokens[0]["at"] <= tokens[1]["at"] - EXPIRES_IN * 0.8, "no stampede at the start"
    assert all(t["status"] == 200 and t["method"] == "client_secret_basic" for t in tokens)
    assert statuses.get(401, 0) <= 2, statuses  # renewed before expiry: at most a straggler's 401
    assert report.attempts == len(ids) + statuses.get(401, 0)  # token requests are not API attempts
    assert oauth.api_stats()["secret_at_api"] == 0 and oauth.token_stats()["bearer_at_token_endpoint"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_token_revoked_mid_run_is_renewed_once_and_each_refused_request_sent_once_more(tmp_path, backend):
    concurrency = 4
    with running_oauth2_server(tmp_path, expires_in=600) as oauth:  # no renewal but the one after a 401
        stop = threading.Event()

        def revoke_when_40_served() -> None:
            while not stop.is_set():
                if oauth.api_stats()["statuses"].get("200", 0) >= 40:
                    oauth.revoke_all()
                    return
                time.sleep(0.02)

        revoker = threading.Thread(target=revoke_when_40_served)
        revoker.start()
        try:
            report = asyncio.run(
                UploadedData(
                    ListStore(),
                    url_maker=[f"{oauth.api_url}/items/{i}" for i in range(120)],
                    rate_limit=Ratelimit(40, timedelta(seconds=1)),
                    max_concurrency=concurrency,
                    http_backend=backend,
                    progress_interval=0,
                ).run(auth=_auth(oauth))
            )
        finally:
            stop.set()
            revoker.join(10)
        tokens, hits, statuses = _since(oauth, 0, {"hits": {}, "statuses": {}})
    print(f"{backend}: {len(tokens)} token requests, API statuses {statuses}, report {report}")
    assert report.succeeded == 120 and report.failed == 0
    assert len(tokens) == 2, "one renewal for all the requests refused with the revoked token"
    refused = statuses[401]
    assert 1 <= refused <= concurrency, "only requests in flight with the revoked token were refused"
    assert hits == dict.fromkeys(range(120), 1) and statuses[200] == 120
    assert report.attempts == 120 + refused, "each refused request was sent once more, once"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_secret_stops_the_run_with_an_error_naming_the_token_url(oauth, backend):
    wrong = oauth.client_secret[:-3] + "XyZ"
    auth = OAuth2ClientCredentials(oauth.token_url, oauth.client_id, wrong)
    before = _snapshot(oauth)
    with pytest.raises(AuthenticationError) as info:
        asyncio.run(
            UploadedData(
                ListStore(),
                url_maker=[f"{oauth.api_url}/items/{i}" for i in range(50)],
                max_concurrency=8,
                http_backend=backend,
                progress_interval=0,
            ).run(auth=auth)
        )
    tokens, hits, statuses = _since(oauth, *before)
    message = str(info.value)
    assert oauth.token_url in message and "invalid_client" in message, message
    assert wrong not in message and oauth.client_secret not in message
    assert len(tokens) == 1, "one refused token request, not one per worker or URL"
    assert not hits and not statuses, "no API request without a token"


@pytest.mark.parametrize("backend", BACKENDS)
def test_paginated_runs_send_the_token_with_every_page(oauth, backend):
    """Pages go through the page fetchers (aiohttp ``get_page``, httpx's page fetcher), not the plain GET."""
    before = _snapshot(oauth)
    store = ListStore()
    report = asyncio.run(
        UploadedData(
            store,
            url_maker=[f"{oauth.api_url}/items/{i}" for i in range(30)],
            paginator="single_page",
            max_concurrency=4,
            http_backend=backend,
            progress_interval=0,
        ).run(auth=_auth(oauth))
    )
    tokens, hits, statuses = _since(oauth, *before)
    assert report.succeeded == 30 and hits == dict.fromkeys(range(30), 1) and statuses == {200: 30}
    assert len(tokens) == 1 and sorted(r["id"] for r in store.saved_data()) == list(range(30))


def test_client_secret_post_scope_audience_and_parameters_reach_the_server(oauth):
    before = _snapshot(oauth)
    auth = _auth(
        oauth,
        audience="https://api.example.com",
        token_auth_method="client_secret_post",
        token_params={"resource": "urn:items"},
    )
    report = asyncio.run(
        UploadedData(ListStore(), url_maker=[f"{oauth.api_url}/items/1"], progress_interval=0).run(auth=auth)
    )
    (token,), hits, _ = _since(oauth, *before)
    assert report.succeeded == 1 and hits == {1: 1}
    assert token["method"] == "client_secret_post" and token["status"] == 200
    assert token["form"] == {
        "grant_type": "client_credentials",
        "scope": "read",
        "audience": "https://api.example.com",
        "resource": "urn:items",
        "client_id": oauth.client_id,
    }


def test_a_429_from_the_token_endpoint_is_waited_out(oauth):
    oauth.add_faults(429, count=1, retry_after=1)
    before = _snapshot(oauth)
    report = asyncio.run(
        UploadedData(
            ListStore(), url_maker=[f"{oauth.api_url}/items/{i}" for i in range(5)], progress_interval=0
        ).run(auth=_auth(oauth))
    )
    tokens, hits, _ = _since(oauth, *before)
    assert report.succeeded == 5 and report.attempts == 5 and hits == dict.fromkeys(range(5), 1)
    assert [t["status"] for t in tokens] == [429, 200]
    assert tokens[1]["at"] - tokens[0]["at"] >= 0.95


# ---- the hook's Test button against the real server ----------------------------------------------------


def _connection(monkeypatch, oauth: OAuth2Server, secret: str, **extra) -> None:
    conn = {
        "conn_type": "bulk_fetch",
        "host": oauth.api_url,
        "login": oauth.client_id,
        "password": secret,
        "extra": {"auth_type": "oauth2_client_credentials", "oauth2_url": oauth.token_url, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_OAUTH2_TEST", json.dumps(conn))


def test_the_test_button_fetches_a_token_then_gets_the_test_path(oauth, monkeypatch):
    from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook

    _connection(monkeypatch, oauth, oauth.client_secret, oauth2_scope="read", test_path="/items/7")
    ok, message = BulkFetchHook("oauth2_test").test_connection()
    assert ok, message
    assert f"step 1: access token from {oauth.token_url} (expires in 2 s)" in message
    assert f"step 2: HTTP 200 from GET {oauth.api_url}/items/7" in message
    assert not any(s in message for s in oauth.secrets())


def test_the_test_button_names_the_failing_step(oauth, monkeypatch):
    from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook

    _connection(monkeypatch, oauth, oauth.client_secret + "-wrong", test_path="/items/7")
    ok, message = BulkFetchHook("oauth2_test").test_connection()
    assert not ok and message.startswith(f"step 1 of 2 (access token from {oauth.token_url}) failed"), message
    assert "invalid_client" in message and oauth.client_secret not in message

    _connection(monkeypatch, oauth, oauth.client_secret, test_path="/items/not-a-number")
    ok, message = BulkFetchHook("oauth2_test").test_connection()
    assert not ok and "step 1: access token from" in message and "step 2 of 2 failed: HTTP 404" in message
    assert not any(s in message for s in oauth.secrets())
