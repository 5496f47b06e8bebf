"""BulkFetchOperator without a metadata database: ``op.execute(context)`` against the loopback demo API."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchFailuresError, BulkFetchOperator
from tests.support.jsonl import read_jsonl_parts
from tests.unit.provider.conftest import QUERY_AUTH_NAME, TOKEN, conn_json
from tests.unit.provider.helpers import make_context, utc


def record_queries(api) -> list[dict[str, str]]:
    return [r.query for r in api.requests if r.path == "/records"]


# -- data intervals ---------------------------------------------------------------------------------


def test_daily_interval_is_one_request_with_iso_bounds(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/records",
        record_path=".",
        query_params={"start": "{start}", "end": "{end}"},
    )
    ctx = make_context(utc(2024, 1, 1), utc(2024, 1, 2))
    summary = op.execute(ctx)
    assert summary["requested"] == 1 and summary["succeeded"] == 1 and summary["chunks"] == 1
    assert summary["interval"] == {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-02T00:00:00+00:00"}
    assert record_queries(api) == [{"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-02T00:00:00+00:00"}]
    records = ctx["ti"].xcom["records"]
    assert len(records) == 24 and summary["records"] == 24  # hourly records, exploded by record_path="."
    assert summary["store"] == "xcom" and summary["xcom_key"] == "records"


def test_weekly_interval_split_into_daily_chunks(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/records?start={start}&end={end}", record_path=".")
    ctx = make_context(utc(2024, 1, 1), utc(2024, 1, 8))
    summary = op.execute(ctx)
    assert summary["requested"] == 7 and summary["chunks"] == 7
    starts = sorted(q["start"] for q in record_queries(api))
    assert starts == [f"2024-01-0{d}T00:00:00+00:00" for d in range(1, 8)]
    assert len({r["id"] for r in ctx["ti"].xcom["records"]}) == 7 * 24


def test_delta_days_and_format_spec(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/records",
        delta_days=3,
        record_path=".",
        query_params={"start": "{start:%Y-%m-%d}", "end": "{end:%Y-%m-%d}"},
    )
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 8)))
    assert summary["chunks"] == 3
    assert sorted((q["start"], q["end"]) for q in record_queries(api)) == [
        ("2024-01-01", "2024-01-04"),
        ("2024-01-04", "2024-01-07"),
        ("2024-01-07", "2024-01-08"),
    ]


def test_explicit_start_end_override_the_run_interval(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/records?start={start}&end={end}",
        record_path=".",
        start="2023-05-01",
        end="2023-05-03T00:00:00Z",
    )
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert summary["interval"]["start"] == "2023-05-01T00:00:00+00:00" and summary["chunks"] == 2


def test_manual_run_without_interval_fails_with_a_fix(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/records?start={start}&end={end}")
    with pytest.raises(BulkFetchConfigError) as info:
        op.execute(make_context(None, None))
    message = str(info.value)
    assert "is None" in message and "CronDataIntervalTimetable" in message and "start=" in message
    assert api.requests == []


def test_zero_length_interval_fails_with_a_fix(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/records?start={start}&end={end}")
    with pytest.raises(BulkFetchConfigError) as info:
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 1)))
    message = str(info.value)
    assert "zero length" in message and "@daily" in message and "CronDataIntervalTimetable" in message
    assert api.requests == []


# -- ids ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "ids"),
    [("/items/{id}", [3, 1, 2]), ("/items", {"start": 1, "end": 4}), ("/items/", "[1, 2, 3]")],
)
def test_ids(api, endpoint, ids):
    op = BulkFetchOperator(task_id="fetch", endpoint=endpoint, ids=ids)
    ctx = make_context(None, None)  # no date placeholder: no interval needed
    summary = op.execute(ctx)
    assert summary["requested"] == 3 and summary["interval"] is None
    assert sorted(r["id"] for r in ctx["ti"].xcom["records"]) == [1, 2, 3]


def test_id_placeholder_without_ids_is_an_error(api):
    with pytest.raises(BulkFetchConfigError, match=r"use \{id\} but ids is not set"):
        BulkFetchOperator(task_id="f", endpoint="/items/{id}").execute(make_context())


def test_unknown_placeholder_is_an_error(api):
    with pytest.raises(BulkFetchConfigError, match=r"unknown placeholder\(s\) \['day'\]"):
        BulkFetchOperator(task_id="f", endpoint="/records?d={day}").execute(make_context())


# -- failures -----------------------------------------------------------------------------------------


def test_max_failures_fails_after_writing_what_succeeded(query_auth_api, tmp_path):
    api = query_auth_api
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids=[1, 2, "x", "y"],
        store=f"file://{tmp_path}",
        retry_max_attempts=1,
    )
    with pytest.raises(BulkFetchFailuresError) as info:
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert "2 of 4 requests failed, more than max_failures=0" in str(info.value)
    assert TOKEN not in str(info.value)
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert sorted(r["id"] for r in read_jsonl_parts(directory)) == [1, 2]
    failures = (directory / "failures.jsonl").read_text()
    assert failures.count("\n") == 2 and "404" in failures and TOKEN not in failures
    manifest = (directory / "manifest.json").read_text()
    assert json.loads(manifest)["failures"] == {"path": "failures.jsonl", "count": 2}

    op.max_failures = 2  # tolerated now; the rerun also replaces the failure report
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert summary["failed"] == 2 and len(summary["failures"]) == 2
    assert TOKEN not in json.dumps(summary)
    assert all(r.query.get(QUERY_AUTH_NAME) == TOKEN for r in api.requests)  # the token was sent...
    assert all("/items/" in f["url"] for f in summary["failures"])  # ...and never reported


def test_failures_go_into_the_summary_for_xcom(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/items/{id}", ids=[1, "nope"], max_failures=1, retry_max_attempts=1
    )
    summary = op.execute(make_context())
    assert summary["failed"] == 1 and summary["failures"][0]["status"] == 404


# -- overrides, backends, cancel --------------------------------------------------------------------


@respx.mock
def test_httpx_backend_and_per_task_overrides(monkeypatch):
    """The connection allows 64 in flight and no rate limit; the task's overrides (1 in flight, 1 request
    per 0.3 s) are what the (mocked) server sees."""
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json("http://api.test"))
    arrivals: list[float] = []
    in_flight = [0, 0]  # now, most

    async def answer(request: httpx.Request) -> httpx.Response:
        arrivals.append(time.monotonic())
        in_flight[0] += 1
        in_flight[1] = max(in_flight)
        await asyncio.sleep(0.05)
        in_flight[0] -= 1
        return httpx.Response(200, json=[])

    route = respx.get(url__startswith="http://api.test/records").mock(side_effect=answer)
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="records",
        query_params={"from": "{start}", "n": 5},
        http_backend="httpx",
        rate_limit_requests=1,
        rate_limit_period_seconds=0.3,
        max_concurrency=1,
    )
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 3)))
    assert summary["requested"] == 2
    assert in_flight[1] == 1  # max_concurrency=1, not the connection's 64
    assert arrivals[1] - arrivals[0] >= 0.3 - 0.01  # 1 request per 0.3 s, not unlimited
    query = parse_qs(urlsplit(str(route.calls.last.request.url)).query)
    assert query["n"] == ["5"] and query["from"][0].endswith("T00:00:00+00:00")
    assert route.calls.last.request.headers["X-API-Key"] == TOKEN


def test_bad_override_names_the_argument(api):
    # checked by the connection field's own row when the DAG is parsed, before any connection is read
    with pytest.raises(BulkFetchConfigError, match="'rate_limit_requests' must be > 0, got 0"):
        BulkFetchOperator(task_id="fetch", endpoint="/items", ids=[1], rate_limit_requests=0)
    assert api.requests == []


def test_constructor_validation():
    with pytest.raises(BulkFetchConfigError, match="max_failures must be an int >= 0, got -1"):
        BulkFetchOperator(task_id="f", endpoint="/x", max_failures=-1)
    with pytest.raises(BulkFetchConfigError, match="delta_days must be an int >= 1, got 0"):
        BulkFetchOperator(task_id="f", endpoint="/x", delta_days=0)


def test_on_kill_cancels_the_fetch(api):
    from airflow.sdk.exceptions import AirflowException

    op = BulkFetchOperator(task_id="fetch", endpoint="/slow?ms=5000&n={id}", ids=list(range(4)))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(make_context())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    started = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 5
    while not api.requests and api.stats.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    op.on_kill()
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 4.5
    assert errors and isinstance(errors[0], AirflowException) and "cancelled" in str(errors[0])


def test_template_fields():
    assert {"endpoint", "query_params", "ids", "store", "start", "end", "bulk_fetch_conn_id"} <= set(
        BulkFetchOperator.template_fields
    )
    assert "params" not in BulkFetchOperator.template_fields
