"""OpenLineage facets of ``BulkFetchOperator``: the API as input, the partition as output, request counts.

Called directly and through the OpenLineage provider's ``DefaultExtractor`` (what its listener uses). Every
result is serialized with the OpenLineage client's ``Serde`` and searched for the token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.serde import Serde

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchFailuresError, BulkFetchOperator

from .conftest import TOKEN, conn_json
from .helpers import make_context, utc

PARTITION = "20240101T000000Z_20240102T000000Z"


def as_json(lineage: Any) -> str:
    return json.dumps(
        {
            "inputs": [json.loads(Serde.to_json(d)) for d in lineage.inputs],
            "outputs": [json.loads(Serde.to_json(d)) for d in lineage.outputs],
            "run_facets": {k: json.loads(Serde.to_json(v)) for k, v in lineage.run_facets.items()},
        }
    )


def origin(api) -> str:
    return api.url.rstrip("/")


def test_start_complete_and_failure_facets(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/records?start={start}&end={end}",
        record_path=".",
        records_per_part=10,
        store=f"file://{tmp_path}",
    )
    start = op.get_openlineage_facets_on_start()
    [source] = start.inputs
    assert (source.namespace, source.name) == (origin(api), "/records")
    assert start.outputs == [] and start.run_facets == {}

    op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    complete = op.get_openlineage_facets_on_complete(task_instance=None)
    assert [(d.namespace, d.name) for d in complete.inputs] == [(origin(api), "/records")]
    [target] = complete.outputs  # one dataset for the partition, not one per part file
    assert (target.namespace, target.name) == ("file", f"{tmp_path}/{PARTITION}")
    stats = target.outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.fileCount) == (24, 1)  # a part holds whole responses (one of 24 here)
    facet = complete.run_facets["bulkFetch"]
    assert (facet.requested, facet.succeeded, facet.failed, facet.records) == (1, 1, 0, 24)
    assert facet.attempts == 1
    for lineage in (start, complete):
        assert TOKEN not in as_json(lineage)


def test_failure_facets_report_the_counts_and_what_was_written(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids=[1, 2, "missing"],
        store=f"file://{tmp_path}",
        retry_max_attempts=1,
    )
    with pytest.raises(BulkFetchFailuresError):
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    failed = op.get_openlineage_facets_on_failure(task_instance=None)
    assert [(d.namespace, d.name) for d in failed.inputs] == [(origin(api), "/items/{id}")]
    assert [(d.namespace, d.name) for d in failed.outputs] == [("file", f"{tmp_path}/{PARTITION}")]
    facet = failed.run_facets["bulkFetch"]
    assert (facet.requested, facet.succeeded, facet.failed) == (3, 2, 1)
    assert TOKEN not in as_json(failed)


def test_failure_before_anything_was_written_has_no_output(api, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json(api.url, rate_limit_requests="nope"))
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1])
    with pytest.raises(Exception, match="rate_limit_requests"):
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json(api.url))
    op._hook = None
    failed = op.get_openlineage_facets_on_failure(task_instance=None)
    assert failed.outputs == [] and failed.run_facets == {}
    assert [d.name for d in failed.inputs] == ["/items/{id}"]


def test_no_credential_in_namespace_or_name(api, monkeypatch):
    """Token in the base URL's userinfo, in its query string and in the endpoint's query: none survives."""
    host = api.url.replace("http://", f"http://user:{TOKEN}@").rstrip("/") + f"/v1?api_key={TOKEN}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEAKY",
        json.dumps(
            {"conn_type": "bulk_fetch", "host": host, "password": TOKEN, "extra": {"auth_type": "bearer"}}
        ),
    )
    op = BulkFetchOperator(
        task_id="fetch",
        bulk_fetch_conn_id="leaky",
        endpoint=f"/items?token={TOKEN}",
        ids=[1],
    )
    lineage = op.get_openlineage_facets_on_start()
    [source] = lineage.inputs
    assert source.namespace == origin(api) and source.name == "/v1/items/{id}"  # /{id} appended as fetched
    assert TOKEN not in as_json(lineage)


def test_absolute_endpoint_uses_its_own_origin(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint=f"https://Other.Example:8443/a/{{id}}?k={TOKEN}", ids=[1]
    )
    [source] = op.get_openlineage_facets_on_start().inputs
    assert (source.namespace, source.name) == ("https://other.example:8443", "/a/{id}")


def test_s3_partition_dataset_uses_bucket_namespace_and_key():
    op = BulkFetchOperator(task_id="fetch", endpoint="/x")
    summary = {"store": "object_storage", "records": 5, "paths": ["a", "b"]}
    summary["directory"] = f"s3://aws_default@bucket/data/{PARTITION}"
    dataset = op._output_dataset(summary)
    assert (dataset.namespace, dataset.name) == ("s3://bucket", f"data/{PARTITION}")


def test_xcom_store_has_no_output_dataset(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1, 2])
    op.execute(make_context())
    complete = op.get_openlineage_facets_on_complete(task_instance=None)
    assert complete.outputs == [] and complete.run_facets["bulkFetch"].succeeded == 2


def test_the_openlineage_providers_default_extractor_uses_the_methods(api, tmp_path):
    from airflow.providers.openlineage.extractors.base import DefaultExtractor

    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1], store=f"file://{tmp_path}")
    extractor = DefaultExtractor(op)
    assert [d.name for d in extractor.extract().inputs] == ["/items/{id}"]
    op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    complete = extractor.extract_on_complete(task_instance=None)
    assert complete is not None and [d.name for d in complete.outputs] == [f"{tmp_path}/{PARTITION}"]
    assert TOKEN not in as_json(complete)


def test_provider_imports_and_runs_without_the_openlineage_provider(tmp_path):
    """With ``airflow.providers.openlineage`` and ``openlineage`` unimportable the operator still works."""
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.startswith(("airflow.providers.openlineage", "openlineage")):
                    raise ModuleNotFoundError(name)
                return None

        sys.meta_path.insert(0, Block())
        # and hide its distributions from provider discovery (before Airflow is imported), as if not installed
        import importlib_metadata

        every = importlib_metadata.distributions
        importlib_metadata.distributions = lambda **kw: [
            d for d in every(**kw) if "openlineage" not in (d.metadata["name"] or "")
        ]
        from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
        from airflow_provider_bulk_uploader.decorators.bulk_fetch import bulk_fetch_task
        from airflow.sdk import DAG, task

        with DAG("no_openlineage", schedule=None):
            op = BulkFetchOperator(task_id="t", endpoint="/x")
            task.bulk_fetch(endpoint="/items/{id}", task_id="ids")(lambda: [1])()
        assert not [m for m in sys.modules if m.startswith(("openlineage", "airflow.providers.openlineage"))]
        try:
            op.get_openlineage_facets_on_start()
        except ModuleNotFoundError:
            print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.airflow
@pytest.mark.integration
def test_the_openlineage_listener_emits_them_in_a_real_task_run(airflow_db, api, tmp_path):
    """``airflow dags test`` with the OpenLineage file transport: the events the listener really sends."""
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW_VAR_BULK_FETCH_DATA_URL": f"file://{tmp_path / 'data'}",
        "AIRFLOW_CONN_BULK_FETCH_DEFAULT": conn_json(api.url),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "bulk_fetch_tests",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    result = subprocess.run(
        [airflow, "dags", "test", "bulk_fetch_assets_producer", "2024-01-03"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert TOKEN not in result.stdout + result.stderr
    text = events_file.read_text()
    assert TOKEN not in text
    events = [json.loads(line) for line in text.splitlines()]
    task = {e["eventType"]: e for e in events if e["job"]["name"].endswith(".fetch_records")}
    assert set(task) == {"START", "COMPLETE"}

    def datasets(event: dict, side: str) -> list[tuple[str, str]]:
        return [(d["namespace"], d["name"]) for d in event.get(side, [])]

    assert datasets(task["START"], "inputs") == [(origin(api), "/records")]
    assert datasets(task["COMPLETE"], "inputs") == [(origin(api), "/records")]
    partition = f"{tmp_path}/data/asset_records/20240102T000000Z_20240103T000000Z"
    assert datasets(task["COMPLETE"], "outputs") == [("file", partition)]
    facet = task["COMPLETE"]["run"]["facets"]["bulkFetch"]
    assert {k: facet[k] for k in ("requested", "succeeded", "failed", "records")} == {
        "requested": 1,
        "succeeded": 1,
        "failed": 0,
        "records": 24,
    }
    [output] = task["COMPLETE"]["outputs"]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 24
