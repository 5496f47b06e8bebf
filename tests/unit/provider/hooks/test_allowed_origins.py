"""The hook scopes credentials to the connection's origin plus ``allowed_origins`` (issue 8, point 3)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bulk_uploader import ListStore
from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook
from airflow_provider_bulk_uploader.testing import running_demo_api

pytestmark = pytest.mark.integration

TOKEN = "origins-Tok-5d1e0b"


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
@pytest.mark.parametrize("allowed", [False, True])
def test_a_second_origin_gets_the_token_only_when_allowed(monkeypatch, backend, allowed):
    with (
        running_demo_api(token=TOKEN, auth="header") as home,
        running_demo_api(token=TOKEN, auth="header") as files,
    ):
        extra = {"auth_type": "header", **({"allowed_origins": [files.url]} if allowed else {})}
        conn = {"conn_type": "bulk_fetch", "host": home.url, "password": TOKEN, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_ORIGINS", json.dumps(conn))
        hook = BulkFetchHook(bulk_fetch_conn_id="origins")
        report = hook.fetch(
            [f"{home.url}/items/1", f"{files.url}/items/2"], ListStore(), http_backend=backend
        )
        assert home.requests[0].headers.get("X-API-Key") == TOKEN
        sent = files.requests[0].headers.get("X-API-Key")
        if allowed:
            assert sent == TOKEN and report.failed == 0
        else:  # sent without the token: the second server answers 401
            assert sent is None and report.failed == 1 and report.failures[0].status == 401
