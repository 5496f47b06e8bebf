"""BulkFetchOperator(pagination=...): construction checks, every page of every day's stream into XCom and
object storage, pages and records per stream in the summary and the manifest, a failing page reported with
its stream, and the field surviving DAG serialization and templating."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from airflow_provider_bulk_uploader.engine.pagination import CursorPaginator
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchFailuresError, BulkFetchOperator

from .helpers import make_context, utc

CURSOR = {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}
PER_DAY = 24 * 60  # one record a minute (step=60)


def cursor_op(**kwargs):
    return BulkFetchOperator(
        task_id="fetch",
        endpoint="/pages/cursor",
        query_params={"start": "{start}", "end": "{end}", "step": 60},
        pagination=CURSOR,
        record_path="data",
        **kwargs,
    )


def page_queries(api) -> list[dict[str, str]]:
    return [r.query for r in api.requests if r.path.startswith("/pages/")]


def read_parts(directory: Path) -> list[dict]:
    out: list[dict] = []
    for part in sorted(directory.glob("part-*.jsonl.gz")):
        out += [json.loads(line) for line in gzip.decompress(part.read_bytes()).decode().splitlines()]
    return out


# -- construction -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pagination", "message"),
    [
        ({"type": "cursr"}, r"pagination\['type'\] must be one of .*'cursr'"),
        ({"type": "cursor", "cursor_paht": "meta.x"}, r"unknown key 'cursor_paht' \(value 'meta.x'\)"),
        ({"type": "offset", "limit": -5}, r"limit must be a whole number >= 1, got -5"),
        (17, "got int"),
    ],
)
def test_bad_pagination_fails_at_construction_naming_key_and_value(pagination, message):
    with pytest.raises(BulkFetchConfigError, match=message):
        BulkFetchOperator(task_id="t", endpoint="/x", pagination=pagination, record_path="data")


def test_offset_without_record_path_fails_at_construction():
    with pytest.raises(BulkFetchConfigError, match="set record_path"):
        BulkFetchOperator(task_id="t", endpoint="/x", pagination={"type": "offset", "limit": 10})


def test_paginator_object_is_kept_as_its_dict_and_templates_are_checked_later():
    op = BulkFetchOperator(task_id="t", endpoint="/x", pagination=CursorPaginator("meta.next_cursor"))
    assert op.pagination == {"type": "cursor", "cursor_path": "meta.next_cursor"}
    op = BulkFetchOperator(task_id="t", endpoint="/x", pagination="auto")
    assert op.pagination == "auto"
    templated = {"type": "offset", "limit": "{{ params.page_size }}"}
    op = BulkFetchOperator(task_id="t", endpoint="/x", pagination=templated, record_path="data")
    assert op.pagination == templated
    assert "pagination" in BulkFetchOperator.template_fields


def test_pagination_survives_dag_serialization():
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG(dag_id="pagination_serialization", schedule=None) as dag:
        BulkFetchOperator(task_id="t", endpoint="/x", pagination=CursorPaginator("meta.next_cursor"))
    again = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    assert again.get_task("t").pagination == {"type": "cursor", "cursor_path": "meta.next_cursor"}


# -- runs against the demo API --------------------------------------------------------------------------


def test_each_days_stream_is_paginated_into_xcom_with_counts_per_stream(api):
    ctx = make_context(utc(2024, 1, 1), utc(2024, 1, 3))
    summary = cursor_op().execute(ctx)
    records = ctx["ti"].xcom["records"]
    assert len(records) == 2 * PER_DAY and len({r["id"] for r in records}) == 2 * PER_DAY
    assert summary["requested"] == summary["succeeded"] == 2 * 15 and summary["failed"] == 0
    paging = summary["pagination"]
    assert paging["streams"] == 2 and paging["pages"] == 30 and paging["records"] == 2 * PER_DAY
    assert [(s["pages"], s["records"], s["complete"]) for s in paging["per_stream"]] == [
        (15, PER_DAY, True)
    ] * 2
    queries = page_queries(api)
    firsts = [
        q for q in queries if "cursor" not in q
    ]  # {start}/{end} filled in the first request of each day
    assert sorted(q["start"] for q in firsts) == ["2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00"]
    assert len(queries) == 30
    assert all(q.get("start") in {f["start"] for f in firsts} for q in queries)  # later pages keep the day


def test_start_line_counts_streams_and_does_not_cap_concurrency_at_their_number(api, capsys):
    """One stream may have many pages: the concurrency is not capped at the number of streams (1 here)."""
    cursor_op(max_concurrency=8).execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    [line] = [text for text in capsys.readouterr().out.splitlines() if "Bulk fetch: " in text]
    assert "Bulk fetch: 1 paginated streams (1 chunk(s))" in line and "concurrency 8" in line, line


def test_object_storage_manifest_carries_pages_and_records_per_stream(api, tmp_path):
    op = cursor_op(store=f"file://{tmp_path}")
    op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 4)))
    directory = tmp_path / "20240101T000000Z_20240104T000000Z"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["records"] == 3 * PER_DAY == len(read_parts(directory))
    report = manifest["report"]
    assert report["pages"] == 45 and report["streams"] == 3 and report["incomplete_streams"] == 0
    assert [s["records"] for s in report["per_stream"]] == [PER_DAY] * 3
    assert report["styles"] == {"cursor": 3}  # every stream's style, also past the per_stream cap


def test_a_failing_page_is_reported_with_its_stream_and_the_rest_is_written(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/pages/json_link",
        query_params={"n": 500, "fail_page": 3, "fail_status": 404},
        pagination={"type": "json_link", "next_url_path": "links.next"},
        record_path="data",
        store=f"file://{tmp_path}",
    )
    ctx = make_context(utc(2024, 1, 1), utc(2024, 1, 2))
    with pytest.raises(BulkFetchFailuresError, match="1 of 3 requests failed"):
        op.execute(ctx)
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert sorted(r["id"] for r in read_parts(directory)) == list(range(200))  # pages 1 and 2 kept
    [failure] = [json.loads(line) for line in (directory / "failures.jsonl").read_text().splitlines()]
    assert failure["url"].endswith("page=3") and failure["status"] == 404
    assert failure["stream"].endswith("/pages/json_link?n=500&fail_page=3&fail_status=404")
    assert failure["stream_incomplete"] is True
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["report"]["incomplete_streams"] == 1


def test_auto_and_a_rendered_template_work_end_to_end(api):
    ctx = make_context(utc(2024, 1, 1), utc(2024, 1, 2))
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/pages/page_number?n=350&size=100", pagination="auto", record_path="data"
    )
    summary = op.execute(ctx)
    assert summary["pagination"]["per_stream"][0]["style"] == "auto:page_number"
    assert len(ctx["ti"].xcom["records"]) == 350
    op = BulkFetchOperator(
        task_id="fetch2",
        endpoint="/pages/offset?n=350",
        pagination={"type": "offset", "limit": "{{ params.page_size }}"},
        record_path="data",
    )
    op.render_template_fields({"params": {"page_size": 100}})
    assert op.pagination == {"type": "offset", "limit": "100"}  # a rendered number is a string
    ctx = make_context(utc(2024, 1, 1), utc(2024, 1, 2))
    assert op.execute(ctx)["pagination"]["pages"] == 4 and len(ctx["ti"].xcom["records"]) == 350


def test_auto_records_its_choice_per_stream_in_the_summary_and_the_manifest(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/pages/{id}?n=250",
        ids=["cursor", "page_number", "json_link"],
        pagination="auto",
        record_path="data",
        store=f"file://{tmp_path}",
    )
    op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    [manifest_path] = tmp_path.glob("*/manifest.json")
    report = json.loads(manifest_path.read_text())["report"]
    assert sorted(s["style"] for s in report["per_stream"]) == [
        "auto:cursor",
        "auto:json_link",
        "auto:page_number",
    ]
    assert report["styles"] == {"auto:cursor": 1, "auto:page_number": 1, "auto:json_link": 1}


def test_a_stream_stopped_while_its_page_says_more_counts_against_max_failures(api):
    # json_link on an offset endpoint: no next link, but the body says total=350 after 100 records
    kwargs = {
        "task_id": "fetch",
        "endpoint": "/pages/offset?n=350&limit=100",
        "pagination": {"type": "json_link", "next_url_path": "links.next"},
        "record_path": "data",
    }
    with pytest.raises(BulkFetchFailuresError, match="1 of 2 requests failed"):
        BulkFetchOperator(**kwargs).execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    summary = BulkFetchOperator(**kwargs, max_failures=1).execute(
        make_context(utc(2024, 1, 1), utc(2024, 1, 2))
    )
    [stream] = summary["pagination"]["per_stream"]
    assert (stream["complete"], stream["stop"], stream["pages"]) == (False, "more indicated", 1)
    [failure] = summary["failures"]
    assert failure["error"] == (
        "stream stopped after 1 page (no next link) but the body's 'total' says 350 records (100 received)"
    )


def test_without_pagination_the_summary_has_no_pagination_section(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1, 2])
    assert "pagination" not in op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))


@pytest.mark.airflow
@pytest.mark.integration
def test_paginated_daily_example_dag_end_to_end(dags, api, tmp_path, monkeypatch):
    """The example DAG through dag.test(): serialized, templated store URL, one cursor stream per day."""
    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    dag_run = dags["bulk_fetch_paginated_daily"].test(logical_date=utc(2024, 1, 2))
    assert dag_run.state == "success"
    directory = tmp_path / "paginated_daily" / "20240101T000000Z_20240102T000000Z"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["records"] == PER_DAY and manifest["report"]["pages"] == 15
    assert manifest["report"]["per_stream"][0]["stop"] == "no next cursor"
    assert sorted(r["id"] for r in read_parts(directory)) == sorted({r["id"] for r in read_parts(directory)})
