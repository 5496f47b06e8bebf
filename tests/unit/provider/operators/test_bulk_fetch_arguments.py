"""The operator's arguments that had no test: ids with a step, dotted and mismatching record_path, store as a
path object or a bad string, construction-time validation, Jinja templating, and odd responses (204, a
redirect without Location, failures with store="xcom")."""

from __future__ import annotations

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError, BulkFetchFailuresError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from tests.support.jsonl import read_jsonl_parts
from tests.unit.provider.conftest import conn_json
from tests.unit.provider.helpers import make_context, utc

# -- ids ----------------------------------------------------------------------------------------------


def test_ids_range_with_a_step(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids={"start": 0, "end": 10, "step": 3})
    ctx = make_context()
    summary = op.execute(ctx)
    assert summary["requested"] == 4
    assert sorted(r.path for r in api.requests) == ["/items/0", "/items/3", "/items/6", "/items/9"]
    assert sorted(r["id"] for r in ctx["ti"].xcom["records"]) == [0, 3, 6, 9]


# -- record_path --------------------------------------------------------------------------------------


@pytest.fixture
def nested_api(monkeypatch):
    """respx on http://api.test: /page/<n> answers {"data": {"items": [...n records]}}, /page/bad a body
    without "data"."""
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json("http://api.test"))
    with respx.mock:

        def answer(request: httpx.Request) -> httpx.Response:
            last = request.url.path.rsplit("/", 1)[1]
            if last == "bad":
                return httpx.Response(200, json={"error": "no data", "items": []})
            n = int(last)
            return httpx.Response(200, json={"data": {"items": [{"page": n, "k": k} for k in range(n)]}})

        yield respx.get(url__startswith="http://api.test/page/").mock(side_effect=answer)


def test_dotted_record_path_explodes_the_nested_list(nested_api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/page/{id}", ids=[1, 2, 3], record_path="data.items", http_backend="httpx"
    )
    ctx = make_context()
    summary = op.execute(ctx)
    assert summary["records"] == 6 and summary["failed"] == 0
    assert sorted((r["page"], r["k"]) for r in ctx["ti"].xcom["records"]) == [
        (1, 0),
        (2, 0),
        (2, 1),
        (3, 0),
        (3, 1),
        (3, 2),
    ]


def test_a_body_that_does_not_match_record_path_is_a_reported_failure_not_an_abort(nested_api, tmp_path):
    def op(max_failures: int, store: str = "xcom") -> BulkFetchOperator:
        return BulkFetchOperator(
            task_id="fetch",
            endpoint="/page/{id}",
            ids=[2, "bad", 1],
            record_path="data.items",
            http_backend="httpx",
            max_failures=max_failures,
            store=store,
        )

    ctx = make_context()
    summary = op(max_failures=1).execute(ctx)  # the other responses are still stored
    assert (summary["succeeded"], summary["failed"], summary["records"]) == (2, 1, 3)
    (failure,) = summary["failures"]
    assert "record_path 'data.items': no key 'data'" in failure["error"] and "'items'" in failure["error"]
    assert "no data" not in failure["error"]  # the keys are named, never the values
    assert len(ctx["ti"].xcom["records"]) == 3

    with pytest.raises(BulkFetchFailuresError, match="1 of 3 requests failed, more than max_failures=0"):
        op(max_failures=0, store=f"file://{tmp_path}").execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert len(read_jsonl_parts(directory)) == 3  # what matched was written
    assert "record_path 'data.items'" in (directory / "failures.jsonl").read_text()


# -- store --------------------------------------------------------------------------------------------


def test_store_as_an_object_storage_path(api, tmp_path):
    from airflow.sdk import ObjectStoragePath

    base = ObjectStoragePath(f"file://{tmp_path}/obj")
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1, 2], store=base)
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert summary["store"] == "object_storage" and summary["records"] == 2
    directory = tmp_path / "obj" / "20240101T000000Z_20240102T000000Z"
    assert sorted(r["id"] for r in read_jsonl_parts(directory)) == [1, 2]


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("xcomm", "store 'xcomm' is neither 'xcom' nor a URL"),
        ("relative/dir", "store 'relative/dir' is neither 'xcom' nor a URL"),
        ("  ", "store must be 'xcom', an ObjectStoragePath or a URL"),
        (42, "store must be 'xcom', an ObjectStoragePath or a URL"),
    ],
)
def test_invalid_store_fails_before_any_request(api, store, message):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1], store=store)
    with pytest.raises(BulkFetchConfigError, match=message):
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert api.requests == []


# -- construction -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "zip"}, "compression must be one of ('gzip', 'none'), got 'zip'"),
        ({"records_per_part": 0}, "records_per_part must be an int >= 1, got 0"),
        ({"records_per_part": "10"}, "records_per_part must be an int >= 1, got '10'"),
        ({"http_backend": "requests"}, "http_backend must be one of ('aiohttp', 'httpx'), got 'requests'"),
    ],
)
def test_bad_output_and_backend_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(BulkFetchConfigError) as info:  # an AirflowFailException: not retried
        BulkFetchOperator(task_id="fetch", endpoint="/items", **kwargs)
    assert message in str(info.value)


# -- Jinja templating -----------------------------------------------------------------------------------


def test_endpoint_query_params_ids_start_and_end_are_rendered(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="{{ params_path }}",
        query_params={"start": "{start}", "end": "{end}", "tag": "{{ tag }}"},
        start="{{ ds }}",
        end="{{ next_ds }}",
        record_path=".",
    )
    ctx = {
        **make_context(),
        "params_path": "/records",
        "tag": "t-1",
        "ds": "2024-03-01",
        "next_ds": "2024-03-02",
    }
    op.render_template_fields(ctx)
    summary = op.execute(ctx)
    assert summary["interval"] == {"start": "2024-03-01T00:00:00+00:00", "end": "2024-03-02T00:00:00+00:00"}
    (request,) = api.requests
    assert request.path == "/records"
    assert request.query == {
        "start": "2024-03-01T00:00:00+00:00",
        "end": "2024-03-02T00:00:00+00:00",
        "tag": "t-1",
    }

    ids_op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids="{{ wanted }}")
    ctx = {**make_context(), "wanted": [5, 7]}
    ids_op.render_template_fields(ctx)
    assert ids_op.execute(ctx)["requested"] == 2
    assert sorted(r.path for r in api.requests[1:]) == ["/items/5", "/items/7"]


# -- failures and odd responses ---------------------------------------------------------------------------


def test_max_failures_exceeded_with_the_xcom_store(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1, 2, "x"], retry_max_attempts=1)
    ctx = make_context()
    with pytest.raises(BulkFetchFailuresError) as info:
        op.execute(ctx)
    message = str(info.value)
    assert "1 of 3 requests failed, more than max_failures=0" in message and "the task log" in message
    assert "/items/x" in message and "404" in message
    assert sorted(r["id"] for r in ctx["ti"].xcom["records"]) == [1, 2]  # what succeeded was pushed


def test_a_204_has_no_records_and_is_no_failure(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/status/{id}", ids=[204, 200], record_path=".")
    # /status/200 answers {"status": 200}: not a list, so that one is a record_path failure
    op.max_failures = 1
    ctx = make_context()
    summary = op.execute(ctx)
    assert summary["records"] == 0 and ctx["ti"].xcom["records"] == []
    (failure,) = summary["failures"]
    assert "must lead to a JSON list, got dict" in failure["error"]  # the 200, not the 204


def test_a_redirect_without_location_is_a_failure_with_its_status(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/status/{id}", ids=[302, 200], max_failures=1, retry_max_attempts=3
    )
    summary = op.execute(make_context())
    assert (summary["succeeded"], summary["failed"]) == (1, 1)
    (failure,) = summary["failures"]
    assert failure["status"] == 302 and failure["attempts"] == 1  # not followed, not retried
    assert [r.path for r in api.requests].count("/status/302") == 1
