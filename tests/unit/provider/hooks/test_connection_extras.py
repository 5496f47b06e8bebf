"""Connection extras reach the engine: observed at the demo API, not read back from the settings object.

Each test sets ``AIRFLOW_CONN_<ID>`` and runs ``BulkFetchHook.fetch``; the demo API records what arrived.
``verify_ssl`` is covered against a TLS server in ``test_verify_ssl.py``.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_bulk_uploader import ListStore
from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook
from airflow_provider_bulk_uploader.testing import max_in_window
from tests.unit.provider.conftest import TOKEN, conn_json


def fetch(api, paths: list[str]):
    report = BulkFetchHook("extras").fetch([f"{api.url}{p}" for p in paths], ListStore(), progress_interval=0)
    return report


@pytest.fixture
def set_extras(monkeypatch):
    def _set(conn: str) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_EXTRAS", conn)

    return _set


def test_headers_extra_is_sent_with_every_request(api, set_extras):
    set_extras(conn_json(api.url, headers=json.dumps({"X-Trace": "trace-1", "Accept": "application/json"})))
    report = fetch(api, [f"/items/{i}" for i in range(3)])
    assert report.succeeded == 3
    assert [r.headers.get("X-Trace") for r in api.requests] == ["trace-1"] * 3
    assert all(r.headers.get("Accept") == "application/json" for r in api.requests)


def test_timeout_seconds_extra_times_out_a_slow_route(api, set_extras):
    set_extras(conn_json(api.url, timeout_seconds="0.4"))
    report = BulkFetchHook("extras").fetch(
        [f"{api.url}/slow?ms=1500", f"{api.url}/slow?ms=10"], ListStore(), retry_max_attempts=1
    )
    assert (report.succeeded, report.failed) == (1, 1)
    assert report.failures[0].status is None and "timeout" in report.failures[0].error.lower()


def test_rate_limit_period_seconds_extra_sets_the_window(api, set_extras):
    set_extras(conn_json(api.url, rate_limit_requests=3, rate_limit_period_seconds=0.25))
    report = fetch(api, [f"/items/{i}" for i in range(12)])
    assert report.succeeded == 12
    assert max_in_window(api.arrivals, 0.25) <= 3
    assert max_in_window(api.arrivals, 1.0) >= 6  # a 0.25 s window, not the default 1 s


def test_legacy_prefixed_extras_are_read_like_the_plain_ones(api, set_extras):
    """Connections saved by older Airflow UIs carry ``extra__bulk_fetch__<name>`` keys."""
    legacy = {
        f"extra__bulk_fetch__{k}": v
        for k, v in {
            "auth_type": "header",
            "auth_name": "X-API-Key",
            "rate_limit_requests": "3",
            "rate_limit_period_seconds": "0.25",
            "max_concurrency": "2",
            "timeout_seconds": "0.4",
            "headers": json.dumps({"X-Trace": "legacy"}),
            "verify_ssl": "false",
        }.items()
    }
    set_extras(json.dumps({"conn_type": "bulk_fetch", "host": api.url, "password": TOKEN, "extra": legacy}))
    hook = BulkFetchHook("extras")
    s = hook.get_settings()
    assert (s.rate_limit_requests, s.rate_limit_period_seconds, s.max_concurrency, s.timeout_seconds) == (
        3,
        0.25,
        2,
        0.4,
    )
    assert s.verify_ssl is False and s.headers == {"X-Trace": "legacy"}
    report = hook.fetch([f"{api.url}/slow?ms=100&i={i}" for i in range(8)], ListStore())
    assert report.succeeded == 8
    assert all(
        r.headers.get("X-API-Key") == TOKEN and r.headers.get("X-Trace") == "legacy" for r in api.requests
    )
    assert api.stats.max_in_flight == 2
    assert max_in_window(api.arrivals, 0.25) <= 3
    report = hook.fetch([f"{api.url}/slow?ms=1500"], ListStore(), retry_max_attempts=1)
    assert report.failed == 1 and "timeout" in report.failures[0].error.lower()  # 0.4 s, not 30 s


def test_a_plain_key_wins_over_its_legacy_twin(api, set_extras):
    set_extras(conn_json(api.url, max_concurrency=1, extra__bulk_fetch__max_concurrency=5))
    assert BulkFetchHook("extras").get_settings().max_concurrency == 1
