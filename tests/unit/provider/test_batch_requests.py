"""Batch lookups with the operator, against the demo API's batch endpoint (400 above 100 ids per request):
ids grouped per request, POST bodies and GET query lists, failures that list their ids, and a retried task
(real ``dag.test()`` retries, the real task state store) that re-sends only the chunks it did not store."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.testing import max_in_window
from tests.unit.provider.helpers import make_context
from tests.unit.provider.test_dag_runs import run, xcom
from tests.unit.provider.test_resume import manifest_and_records

pytestmark = pytest.mark.integration


def batch_requests(api: Any) -> list[Any]:
    return [r for r in api.requests if r.route == "/batch/items"]


def ids_of(record: Any) -> list[int]:
    if record.method == "POST":
        return json.loads(record.body)["ids"]
    return [int(i) for i in record.query["ids"].split(",")]


@pytest.mark.parametrize(
    "form",
    [
        {"method": "POST", "json": {"ids": "{ids}"}},
        {"method": "GET", "query_params": {"ids": "{ids}"}},
    ],
    ids=["post-json-list", "get-query-list"],
)
def test_10000_ids_in_exactly_100_requests_every_record_once_rate_limit_at_the_server(api, form):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/batch/items",
        ids={"start": 0, "end": 10_000},
        ids_per_request=100,
        record_path="data",
        rate_limit_requests=40,
        max_concurrency=8,
        xcom_max_bytes=4 * 1024 * 1024,
        **form,
    )
    context = make_context()
    summary = op.execute(context)
    seen = batch_requests(api)
    assert len(seen) == 100 and {r.method for r in seen} == {form["method"]}
    assert all(r.status == 200 for r in seen)
    assert sorted(i for r in seen for i in ids_of(r)) == list(range(10_000))
    records = context["ti"].xcom["records"]
    assert sorted(r["id"] for r in records) == list(range(10_000)), "every record exactly once"
    assert max_in_window([r.arrival for r in seen], 1.0) <= 40, "the rate limit, measured at the server"
    assert summary["requested"] == summary["succeeded"] == 100 and summary["attempts"] == 100
    assert summary["ids_per_request"] == 100
    assert summary["ids"] == {"total": 10_000, "requested": 10_000, "succeeded": 10_000, "failed": 0}


def test_repeated_query_parameter_style(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/batch/items",
        query_params={"id": "{ids}", "lane": "r"},
        ids=list(range(10)),
        ids_per_request=4,
        ids_style="repeat",
        record_path="data",
    )
    context = make_context()
    op.execute(context)
    assert sorted(r["id"] for r in context["ti"].xcom["records"]) == list(range(10))
    assert len(batch_requests(api)) == 3  # 4 + 4 + 2


def test_a_failing_chunk_is_one_line_in_failures_jsonl_listing_its_100_ids(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/batch/items",
        query_params={"fail_id": "4242"},  # the demo API fails every batch that holds id 4242
        method="POST",
        json={"ids": "{ids}"},
        ids={"start": 0, "end": 10_000},
        ids_per_request=100,
        record_path="data",
        store=f"file://{tmp_path}",
        max_failures=1,
    )
    summary = op.execute(make_context())
    assert summary["failed"] == 1 and summary["succeeded"] == 99
    assert summary["ids"] == {"total": 10_000, "requested": 10_000, "succeeded": 9_900, "failed": 100}
    (line,) = (tmp_path / "run_id=manual__2024-01-01T00_00_00_00_00").glob("failures.jsonl")
    (failure,) = [json.loads(x) for x in line.read_text().splitlines()]
    assert failure["ids"] == list(range(4200, 4300)) and failure["method"] == "POST"
    assert failure["status"] == 500 and failure["attempts"] == 1  # a POST answered 500 is not resent
    assert len(batch_requests(api)) == 100
    _, manifest, records = manifest_and_records(tmp_path, "manifest.json")
    assert len(records) == 9_900 and manifest["units_fetched"] == 99


@pytest.mark.airflow
def test_retried_task_resends_only_the_chunks_it_did_not_store(dags, api, tmp_path):
    api.cutoff.set(after=40, count=20)  # requests 41..60 dropped: try 1 fails with 20 chunks missing
    dag_run, tis = run(dags["it_batch_retry"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert tis["fetch", -1].try_number == 2
    seen = batch_requests(api)
    first, second = seen[:100], seen[100:]
    dropped = [tuple(ids_of(r)) for r in first if r.status == 0]
    assert len(dropped) == 20
    assert sorted(tuple(ids_of(r)) for r in second) == sorted(dropped), "try 2: only the unstored chunks"
    assert all(r.status == 200 for r in second)
    served = Counter(i for r in seen if r.status == 200 for i in ids_of(r))
    assert len(served) == 10_000 and set(served.values()) == {1}, "no id fetched twice"
    _, manifest, records = manifest_and_records(tmp_path, "manifest.json")
    assert sorted(r["id"] for r in records) == list(range(10_000))
    assert manifest["resumed_from_try"] == 1
    assert (manifest["units_skipped"], manifest["units_fetched"]) == (80, 20)
    summary = xcom(dag_run, "fetch")
    assert summary["ids"]["requested"] == 2_000 and summary["ids"]["failed"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "DELETE"}, "method must be one of GET, POST, PUT, PATCH, got 'DELETE'"),
        ({"ids_per_request": 0}, "ids_per_request must be an int >= 1, <= 10000, got 0"),
        ({"ids_per_request": "100"}, "ids_per_request must be an int"),
        ({"ids_style": "comma"}, "ids_style must be one of ['join', 'repeat'], got 'comma'"),
        ({"ids_separator": ""}, "ids_separator must be a non-empty string, got ''"),
        ({"json": {"a": 1}, "data": "x"}, "json= or data=, not both"),
        ({"json": {"a": {1, 2}}}, "json must be JSON-serialisable"),
        ({"retry_non_idempotent": "yes"}, "retry_non_idempotent must be True or False"),
        ({"headers": {"X-A": 1}}, "headers['X-A'] must be a string"),
        ({"endpoint": "/items/{id}", "ids_per_request": 10}, "{id} names one id but ids_per_request is 10"),
        (
            {"pagination": {"type": "cursor", "cursor_path": "c", "cursor_body_path": "variables.after"}},
            "cursor_body_path 'variables.after' writes the cursor into the JSON body: give json=",
        ),
    ],
)
def test_bad_request_arguments_fail_at_construction(kwargs, message):
    arguments = {"task_id": "t", "endpoint": "/batch/items", **kwargs}
    with pytest.raises(BulkFetchConfigError) as info:
        BulkFetchOperator(**arguments)
    assert message in str(info.value)


def test_ids_per_request_without_ids_placeholder_is_an_error_naming_the_fix(api):
    op = BulkFetchOperator(task_id="t", endpoint="/batch/items", ids=[1, 2, 3], ids_per_request=2)
    with pytest.raises(BulkFetchConfigError, match=r"needs \{ids\} in endpoint, query_params, json or data"):
        op.execute(make_context())


def test_request_arguments_are_templated():
    fields = set(BulkFetchOperator.template_fields)
    assert {"method", "json", "data", "headers"} <= fields


def test_operator_walks_a_graphql_connection_through_the_body_cursor(api):
    from airflow_provider_bulk_uploader.testing.graphql_api import running_graphql_api
    from tests.integration.test_graphql_server import CONNECTION, PAGINATOR, QUERY

    with running_graphql_api(issues=250) as graphql:
        op = BulkFetchOperator(
            task_id="issues",
            endpoint=graphql.url,  # an absolute URL on another origin: no connection credentials go there
            method="POST",
            json={"query": QUERY, "variables": {"owner": "apache", "name": "airflow", "after": None}},
            pagination=PAGINATOR,
            record_path=f"{CONNECTION}.edges",
            retry_non_idempotent=True,  # a query: safe to resend
        )
        context = make_context()
        summary = op.execute(context)
    numbers = [edge["node"]["number"] for edge in context["ti"].xcom["records"]]
    assert sorted(numbers) == list(range(1, 251))
    assert summary["pagination"]["pages"] == 3 and summary["pagination"]["incomplete_streams"] == 0
    assert [b["variables"]["after"] is None for b in graphql.requests] == [True, False, False]


@pytest.mark.airflow
def test_batch_lookup_example_dag_runs_end_to_end(dags, api, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    dag_run, tis = run(dags["bulk_fetch_batch_lookup"])
    assert dag_run.state == "success", tis
    assert len(batch_requests(api)) == 100
    _, manifest, records = manifest_and_records(tmp_path / "batch_lookup", "manifest.json")
    assert sorted(r["id"] for r in records) == list(range(10_000)) and manifest["records"] == 10_000
    summary = xcom(dag_run, "lookup_items")
    assert summary["ids"]["succeeded"] == 10_000 and summary["requested"] == 100
