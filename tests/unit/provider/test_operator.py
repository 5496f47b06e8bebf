"""BulkFetchOperator without a metadata database: ``op.execute(context)`` against the loopback demo API."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchFailuresError, BulkFetchOperator
from airflow_provider_bulk_uploader.storage import XComTooLargeError

from .conftest import TOKEN, conn_json
from .helpers import make_context, utc


def read_parts(directory: Path, pattern: str = "part-*.jsonl*") -> list[dict]:
    records = []
    for part in sorted(directory.glob(pattern)):
        data = part.read_bytes()
        if part.suffix == ".gz":
            data = gzip.decompress(data)
        records += [json.loads(line) for line in data.decode().splitlines() if line]
    return records


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


# -- object storage -----------------------------------------------------------------------------------


def test_object_storage_layout_manifest_and_idempotent_rerun(api, tmp_path):
    def run(records_per_part: int) -> dict:
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/records?start={start}&end={end}",
            record_path=".",
            store=f"file://{tmp_path}/out",
            records_per_part=records_per_part,
        )
        return op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 4)))

    first = run(records_per_part=10)
    directory = tmp_path / "out" / "20240101T000000Z_20240104T000000Z"
    names = sorted(p.name for p in directory.iterdir())
    # a part holds whole responses (24 records a day here), so that a part's units are complete on resume
    assert names == ["manifest.json"] + [f"part-{i:05d}.jsonl.gz" for i in range(3)]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["records"] == 72 and sum(p["records"] for p in manifest["parts"]) == 72
    assert manifest["interval"]["start"] == "2024-01-01T00:00:00+00:00" and manifest["failures"] is None
    assert first["manifest"].endswith("manifest.json") and len(first["paths"]) == 3
    assert first["records"] == 72

    # rerun, bigger parts: same interval -> same directory, stale parts deleted, no duplicates
    second = run(records_per_part=50)
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["manifest.json", "part-00000.jsonl.gz"]
    records = read_parts(directory)
    assert len(records) == 72 and len({r["id"] for r in records}) == 72
    assert second["records"] == 72
    assert not list(directory.glob(".*tmp*"))


def test_rerun_with_no_records_clears_old_parts(api, tmp_path):
    def run(ids: list[int]) -> dict:
        op = BulkFetchOperator(task_id="fetch", endpoint="/items", ids=ids, store=f"file://{tmp_path}")
        return op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))

    run([1, 2, 3])
    summary = run([])
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert summary["requested"] == 0 and summary["paths"] == []
    assert [p.name for p in directory.iterdir()] == ["manifest.json"]
    assert json.loads((directory / "manifest.json").read_text())["records"] == 0


def test_mapped_instances_get_their_own_names(api, tmp_path):
    for index, ids in enumerate(([1, 2], [3, 4])):
        op = BulkFetchOperator(
            task_id="fetch", endpoint="/items/{id}", ids=ids, store=str(tmp_path), compression="none"
        )
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2), map_index=index))
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert sorted(p.name for p in directory.iterdir()) == [
        "manifest-m00000.json",
        "manifest-m00001.json",
        "part-m00000-00000.jsonl",
        "part-m00001-00000.jsonl",
    ]
    assert sorted(r["id"] for r in read_parts(directory, "part-*.jsonl")) == [1, 2, 3, 4]


def test_run_id_partition_when_there_is_no_interval(api, tmp_path):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items", ids=[1], store=f"file://{tmp_path}")
    op.execute(make_context(None, None, run_id="manual__2024-01-01T00:00:00+00:00"))
    assert [p.name for p in tmp_path.iterdir()] == ["run_id=manual__2024-01-01T00_00_00_00_00"]


# -- failures -----------------------------------------------------------------------------------------


def test_max_failures_fails_after_writing_what_succeeded(api, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_Q", conn_json(api.url, auth_type="query", auth_name="api_key"))
    api.auth, api.auth_name = "query", "api_key"
    try:
        op = BulkFetchOperator(
            task_id="fetch",
            bulk_fetch_conn_id="q",
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
        assert sorted(r["id"] for r in read_parts(directory)) == [1, 2]
        failures = (directory / "failures.jsonl").read_text()
        assert failures.count("\n") == 2 and "404" in failures and TOKEN not in failures
        manifest = (directory / "manifest.json").read_text()
        assert json.loads(manifest)["failures"] == {"path": "failures.jsonl", "count": 2}

        op.max_failures = 2  # tolerated now; the rerun also replaces the failure report
        summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
        assert summary["failed"] == 2 and len(summary["failures"]) == 2
        assert TOKEN not in json.dumps(summary)
        assert all(r.query.get("api_key") == TOKEN for r in api.requests)  # the token was sent...
        assert all("/items/" in f["url"] for f in summary["failures"])  # ...and never reported
    finally:
        api.auth, api.auth_name = "header", "X-API-Key"


def test_failures_go_into_the_summary_for_xcom(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/items/{id}", ids=[1, "nope"], max_failures=1, retry_max_attempts=1
    )
    summary = op.execute(make_context())
    assert summary["failed"] == 1 and summary["failures"][0]["status"] == 404


def test_xcom_store_refuses_large_results(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/items/{id}", ids={"start": 0, "end": 50}, xcom_max_bytes=500
    )
    with pytest.raises(XComTooLargeError, match=r"exceed xcom_max_bytes=500 bytes.*object storage"):
        op.execute(make_context())


# -- overrides, backends, cancel --------------------------------------------------------------------


@respx.mock
def test_httpx_backend_and_per_task_overrides(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json("http://api.test"))
    route = respx.get(url__startswith="http://api.test/records").mock(
        return_value=httpx.Response(200, json=[])
    )
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="records",
        query_params={"from": "{start}", "n": 5},
        http_backend="httpx",
        rate_limit_requests=1000,
        max_concurrency=2,
    )
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 3)))
    assert summary["requested"] == 2
    query = parse_qs(urlsplit(str(route.calls.last.request.url)).query)
    assert query["n"] == ["5"] and query["from"][0].endswith("T00:00:00+00:00")
    assert route.calls.last.request.headers["X-API-Key"] == TOKEN


def test_bad_override_names_the_argument(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items", ids=[1], rate_limit_requests=0)
    with pytest.raises(BulkFetchConfigError, match="'rate_limit_requests' must be > 0, got 0"):
        op.execute(make_context())


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
