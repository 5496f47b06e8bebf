"""End to end with ``dag.test()`` on the session's metadata database (SQLite by default) and the demo API."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.support.jsonl import read_jsonl_parts

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

DAY = datetime(2024, 1, 2, tzinfo=timezone.utc)  # logical date -> interval [2024-01-01, 2024-01-02)
MONDAY = datetime(2024, 1, 8, tzinfo=timezone.utc)  # weekly: [2024-01-01, 2024-01-08)


def run(dag, **kwargs):
    dag_run = dag.test(**kwargs)
    return dag_run, {(ti.task_id, ti.map_index): ti for ti in dag_run.get_task_instances()}


def xcom(dag_run, task_id: str, key: str = "return_value", map_index: int = -1):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalar(
            XComModel.get_many(
                run_id=dag_run.run_id,
                key=key,
                dag_ids=dag_run.dag_id,
                task_ids=task_id,
                map_indexes=map_index,
            ).with_only_columns(XComModel.value)
        )
    return XComModel.deserialize_value(type("R", (), {"value": row})()) if row is not None else None


def test_daily_example_to_file_storage_and_idempotent_rerun(dags, api, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    dag = dags["bulk_fetch_daily_records"]
    dag_run, tis = run(dag, logical_date=DAY)
    assert dag_run.state == "success", tis
    directory = tmp_path / "daily_records" / "20240101T000000Z_20240102T000000Z"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["records"] == 24 and manifest["dag_id"] == "bulk_fetch_daily_records"
    files = sorted(p.name for p in directory.iterdir())
    first = read_jsonl_parts(directory, "part-*.jsonl.gz")

    dag_run, _ = run(dag, logical_date=DAY)  # same interval again
    assert dag_run.state == "success"
    assert sorted(p.name for p in directory.iterdir()) == files
    again = read_jsonl_parts(directory, "part-*.jsonl.gz")
    assert len(again) == 24 and sorted(r["id"] for r in again) == sorted(r["id"] for r in first)
    summary = xcom(dag_run, "fetch_records")
    assert summary["records"] == 24 and summary["interval"]["start"] == "2024-01-01T00:00:00+00:00"


def test_weekly_interval_split_into_days(dags, api, tmp_path):
    dag_run, _ = run(dags["it_weekly"], logical_date=MONDAY, run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success"
    assert len([r for r in api.requests if r.path == "/records"]) == 7
    manifest = json.loads((tmp_path / "20240101T000000Z_20240108T000000Z" / "manifest.json").read_text())
    assert manifest["records"] == 7 * 24
    assert manifest["report"]["requested"] == 7


def test_interval_mapping(dags, api, tmp_path):
    dag_run, tis = run(dags["it_mapped_days"], logical_date=MONDAY, run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    mapped = sorted(i for (task, i) in tis if task == "fetch")
    assert mapped == [0, 1, 2, 3]  # 7 days in 2-day chunks
    chunks = sorted(p.name for p in tmp_path.iterdir())
    assert chunks == [
        "20240101T000000Z_20240103T000000Z",
        "20240103T000000Z_20240105T000000Z",
        "20240105T000000Z_20240107T000000Z",
        "20240107T000000Z_20240108T000000Z",
    ]
    total = sum(
        json.loads(next((tmp_path / c).glob("manifest-*.json")).read_text())["records"] for c in chunks
    )
    assert total == 7 * 24


def test_id_mapping_example(dags, api, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    dag_run, tis = run(
        dags["bulk_fetch_mapped_ids"],
        logical_date=None,
        run_conf={"first_id": 1, "last_id": 100, "chunk_size": 30},
    )
    assert dag_run.state == "success", tis
    assert sorted(i for (task, i) in tis if task == "fetch_items") == [0, 1, 2, 3]
    (directory,) = (tmp_path / "items").iterdir()
    assert directory.name.startswith("run_id=")
    assert sorted(r["id"] for r in read_jsonl_parts(directory, "part-*.jsonl.gz")) == list(range(1, 101))
    assert len(list(directory.glob("manifest-m*.json"))) == 4


def test_xcom_example_feeds_a_downstream_task(dags, api):
    dag_run, tis = run(dags["bulk_fetch_xcom_to_task"], logical_date=None)
    assert dag_run.state == "success", tis
    result = xcom(dag_run, "total_value")
    assert result["records"] == 20 and result["failed"] == 0
    records = xcom(dag_run, "fetch_items", key="records")
    assert sorted(r["id"] for r in records) == list(range(1, 21))


def test_max_failures_fails_the_task_after_writing(dags, api, tmp_path):
    dag_run, tis = run(dags["it_failures"], logical_date=DAY, run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "failed"
    assert tis[("fetch", -1)].state == "failed"
    (directory,) = tmp_path.iterdir()  # schedule=None: the run's (zero-length) interval names the output
    assert directory.name == "20240102T000000Z_20240102T000000Z"
    assert sorted(r["id"] for r in read_jsonl_parts(directory, "part-*.jsonl.gz")) == [1, 2]
    assert (directory / "failures.jsonl").read_text().count("\n") == 1


def test_zero_length_and_missing_intervals_fail(dags, api, capfd):
    """Each run fails for the reason it is meant to (the task log names the fix), not for any reason: a
    broken connection or a bad DAG would fail these runs too."""
    dag = dags["it_trigger_daily"]
    dag_run, tis = run(dag, logical_date=DAY)  # "@daily": data_interval_start == data_interval_end
    assert dag_run.state == "failed" and tis[("fetch", -1)].state == "failed"
    log = "".join(capfd.readouterr())
    assert "BulkFetchConfigError" in log and "zero length" in log and "CronDataIntervalTimetable" in log
    dag_run, tis = run(dag, logical_date=None)  # manual run without a logical date: no interval at all
    assert dag_run.state == "failed"
    log = "".join(capfd.readouterr())
    assert "BulkFetchConfigError" in log and "is None" in log and "zero length" not in log
    assert not [r for r in api.requests if r.path == "/records"]


def test_token_never_reaches_logs_xcom_or_rendered_fields(dags, query_auth_api, capfd):
    """Query-parameter auth is the riskiest (the token is part of every URL): check what Airflow keeps."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from tests.unit.provider.conftest import QUERY_AUTH_NAME, TOKEN

    api = query_auth_api
    dag_run, tis = run(dags["bulk_fetch_xcom_to_task"], logical_date=None)
    assert dag_run.state == "success", tis
    assert all(r.query.get(QUERY_AUTH_NAME) == TOKEN for r in api.requests)
    out, err = capfd.readouterr()
    assert TOKEN not in out and TOKEN not in err
    with create_session() as session:
        xcoms = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id)).all()
        rendered = session.scalars(
            RenderedTaskInstanceFields.__table__.select().where(
                RenderedTaskInstanceFields.run_id == dag_run.run_id
            )
        ).all()
    assert xcoms and all(TOKEN not in str(x.value) for x in xcoms)
    assert TOKEN not in str(rendered)
