"""Asset events of ``BulkFetchOperator``: what an ``AssetAlias`` outlet gets, and the producer/consumer pair.

The first tests call ``op.execute()`` with a real ``OutletEventAccessors`` (what the task runner puts in the
context) and check what would be sent to the API server. The last one runs on the session's metadata database:
``dag.test()`` of the producer example, then the scheduler's own asset-triggered run creation, then the
consumer's task, which reads the manifest named in the triggering event.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_bulk_uploader.operators._lineage import partition_asset_uri
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchFailuresError, BulkFetchOperator

from .conftest import TOKEN, conn_json
from .helpers import make_context, utc

ALIAS = AssetAlias("records_alias")
PARTITION = "20240101T000000Z_20240102T000000Z"


def run(op: BulkFetchOperator, **context: Any) -> tuple[dict[str, Any], OutletEventAccessors]:
    events = OutletEventAccessors()
    ctx = {**make_context(utc(2024, 1, 1), utc(2024, 1, 2)), "outlet_events": events, **context}
    return op.execute(ctx), events


def alias_events(events: OutletEventAccessors, alias: AssetAlias = ALIAS) -> list[Any]:
    return list(events[alias].asset_alias_events)


def test_alias_gets_the_partition_asset_with_manifest_extra(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/records",
        query_params={"start": "{start}", "end": "{end}"},
        record_path=".",
        records_per_part=10,
        store=f"file://{tmp_path}",
        outlets=[ALIAS],
    )
    summary, events = run(op)
    [event] = alias_events(events)
    uri = f"file://{tmp_path}/{PARTITION}"
    assert event.dest_asset_key.uri == uri and event.source_alias_name == "records_alias"
    assert event.extra == {
        "records": 24,
        "parts": 1,  # a part holds whole responses (one response of 24 records here)
        "interval": {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-02T00:00:00+00:00"},
        "manifest": f"file://{tmp_path}/{PARTITION}/manifest.json",
        "failed": 0,
    }
    assert json.loads((tmp_path / PARTITION / "manifest.json").read_text())["records"] == 24
    assert summary["records"] == 24


def test_fixed_asset_keeps_standard_behaviour_and_gets_the_extra(api, tmp_path):
    fixed = Asset(f"file://{tmp_path}")
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/items/{id}", ids=[1, 2], store=f"file://{tmp_path}", outlets=[fixed]
    )
    assert op.outlets == [fixed]  # what the task runner reports on success, Airflow's standard event
    _, events = run(op)
    assert events[fixed].extra["records"] == 2 and events[fixed].extra["parts"] == 1
    assert events[fixed].asset_alias_events == []


def test_nothing_announced_when_the_task_fails(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids=[1, "missing"],
        store=f"file://{tmp_path}",
        retry_max_attempts=1,
        outlets=[ALIAS],
    )
    events = OutletEventAccessors()
    with pytest.raises(BulkFetchFailuresError):
        op.execute({**make_context(utc(2024, 1, 1), utc(2024, 1, 2)), "outlet_events": events})
    assert (tmp_path / PARTITION / "manifest.json").exists()  # the successful record was written...
    assert alias_events(events) == []  # ...but nothing is announced


def test_failures_within_max_failures_are_announced_with_the_count(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids=[1, "missing"],
        store=f"file://{tmp_path}",
        retry_max_attempts=1,
        max_failures=1,
        outlets=[ALIAS],
    )
    _, events = run(op)
    [event] = alias_events(events)
    assert event.extra["records"] == 1 and event.extra["failed"] == 1


def test_nothing_announced_when_nothing_was_written(api, tmp_path):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/items/{id}", ids=[], store=f"file://{tmp_path}", outlets=[ALIAS]
    )
    summary, events = run(op)
    assert summary["records"] == 0 and alias_events(events) == []


def test_xcom_store_announces_nothing(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1], outlets=[ALIAS])
    summary, events = run(op)
    assert summary["records"] == 1 and alias_events(events) == []


def test_mapped_instances_announce_the_same_partition_with_their_own_manifest(api, tmp_path):
    manifests = []
    for index in (0, 1):
        op = BulkFetchOperator(
            task_id="fetch", endpoint="/items/{id}", ids=[index], store=f"file://{tmp_path}", outlets=[ALIAS]
        )
        _, events = run(op, **{"ti": make_context(map_index=index)["ti"]})
        [event] = alias_events(events)
        assert event.dest_asset_key.uri == f"file://{tmp_path}/{PARTITION}"
        manifests.append(event.extra["manifest"])
    assert [m.rsplit("/", 1)[1] for m in manifests] == ["manifest-m00000.json", "manifest-m00001.json"]


@pytest.mark.parametrize(
    ("directory", "uri"),
    [
        ("s3://aws_default@bucket/data/x", "s3://bucket/data/x"),
        ("s3://bucket/data/x", "s3://bucket/data/x"),
        ("file:///data/x", "file:///data/x"),
        ("/data/x", "file:///data/x"),
        ("gs://google_cloud_default@b/p", "gs://b/p"),
    ],
)
def test_partition_asset_uri_drops_the_connection_id(directory, uri):
    assert partition_asset_uri(directory) == uri


# -- producer -> asset event -> consumer on the metadata database --------------------------------------------

DAY = datetime(2024, 1, 2, tzinfo=timezone.utc)
PRODUCER, CONSUMER = "bulk_fetch_assets_producer", "bulk_fetch_assets_consumer"


def _sync_examples_bundle() -> None:
    """Write the example DAGs to the DB (as ``dag.test()`` does), so the consumer exists before the event."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    bundle = manager.get_bundle("examples")
    if not bundle.is_initialized:
        bundle.initialize()
    bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
    sync_bag_to_db(bag, bundle.name, bundle.version)


def _reset_consumer() -> None:
    """Unpause the consumer (DAGs are created paused) and drop what an earlier run left queued."""
    from airflow.models.asset import AssetDagRunQueue
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete, update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == CONSUMER).values(is_paused=False))
        session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == CONSUMER))
        for dag_run in session.query(DagRun).filter(DagRun.dag_id == CONSUMER):
            session.delete(dag_run)


def _create_asset_triggered_runs() -> list[str]:
    """One scheduler step for the consumer: its readiness check and its asset-triggered run creation."""
    from airflow.executors.local_executor import LocalExecutor
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        query, triggered_date_by_dag = DagModel.dags_needing_dagruns(session)
        ready = [dm for dm in query.all() if dm.dag_id == CONSUMER]
        assert CONSUMER in triggered_date_by_dag and ready, "the consumer is not ready to run"
        runner = SchedulerJobRunner(job=Job(), executors=[LocalExecutor()])
        runner._create_dag_runs_asset_triggered(dag_models=ready, session=session)
    with create_session() as session:
        return [
            dr.run_id
            for dr in session.query(DagRun).filter(
                DagRun.dag_id == CONSUMER, DagRun.run_type == "asset_triggered"
            )
        ]


def _run_dag_run(dag: Any, run_id: str) -> Any:
    """Run the tasks of an existing run the way ``dag.test()`` does (bounded loop, tasks in-process)."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id).one()
        dag_run.dag = scheduler_dag
        dag_run.state = DagRunState.RUNNING
        session.commit()
        for _ in range(10):
            if dag_run.state != DagRunState.RUNNING:
                break
            session.expire_all()
            schedulable, _ = dag_run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in dag_run.get_task_instances(session=session):
                if ti.state == TaskInstanceState.SCHEDULED:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id])
        session.expire_all()
        return dag_run.state, {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}


@pytest.mark.airflow
@pytest.mark.integration
def test_consumer_is_triggered_by_the_producers_asset_event(dags, api, tmp_path, monkeypatch):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from .test_dag_runs import xcom

    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    _sync_examples_bundle()
    _reset_consumer()

    producer_run = dags[PRODUCER].test(logical_date=DAY)
    assert producer_run.state == "success"
    uri = f"file://{tmp_path}/asset_records/{PARTITION}"
    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter(AssetEvent.source_dag_id == PRODUCER, AssetEvent.source_run_id == producer_run.run_id)
            .all()
        )
        assert [(e.asset.uri, e.extra["records"], e.extra["parts"]) for e in events] == [(uri, 24, 1)]
        assert [a.name for a in events[0].source_aliases] == ["bulk_fetch_records"]
        assert TOKEN not in json.dumps(events[0].extra)
        queued = session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == CONSUMER).all()
        assert [q.asset.uri for q in queued] == [uri]
        assert session.query(AssetModel).filter(AssetModel.uri == uri).count() == 1

    [run_id] = _create_asset_triggered_runs()
    state, tis = _run_dag_run(dags[CONSUMER], run_id)
    assert state == "success", tis
    loaded = xcom(type("R", (), {"run_id": run_id, "dag_id": CONSUMER})(), "load_partitions")
    assert loaded == [{"uri": uri, "records": 24, "parts": ["part-00000.jsonl.gz"]}]


@pytest.mark.airflow
@pytest.mark.integration
def test_failed_producer_queues_nothing(dags, api, tmp_path, monkeypatch):
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    _sync_examples_bundle()
    _reset_consumer()
    wrong = json.loads(conn_json(api.url))
    wrong["password"] = "not-the-token"  # every request gets a 403: the task fails, nothing was written
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", json.dumps(wrong))
    dag_run = dags[PRODUCER].test(logical_date=DAY)
    assert dag_run.state == "failed"
    assert {r.status for r in api.requests} == {403}
    with create_session() as session:
        assert session.query(AssetDagRunQueue).filter(AssetDagRunQueue.target_dag_id == CONSUMER).count() == 0


@pytest.mark.airflow
@pytest.mark.integration
def test_fixed_asset_outlet_standard_event_with_the_extra(dags, api, tmp_path):
    """``outlets=[Asset(...)]``: Airflow's own event on every success (0 records too); consumer queued."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, update

    uri = "file:///bulk-fetch-tests/fixed-items"

    def events_of(run_id: str) -> list[dict]:
        with create_session() as session:
            rows = session.query(AssetEvent).filter(AssetEvent.source_run_id == run_id).all()
            return [{"uri": e.asset.uri, **e.extra} for e in rows]

    dags["it_fixed_asset"].test(logical_date=DAY, run_conf={"store": "xcom", "ids": []})  # writes the DAGs
    with create_session() as session:
        session.execute(
            update(DagModel).where(DagModel.dag_id == "it_fixed_asset_consumer").values(is_paused=False)
        )
        session.execute(
            delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == "it_fixed_asset_consumer")
        )

    dag_run = dags["it_fixed_asset"].test(
        logical_date=DAY, run_conf={"store": f"file://{tmp_path}", "ids": [1, 2, 3]}
    )
    assert dag_run.state == "success"
    [event] = events_of(dag_run.run_id)
    assert event["uri"] == uri and event["records"] == 3 and event["parts"] == 1
    assert event["manifest"] == f"file://{tmp_path}/{PARTITION}/manifest.json"
    with create_session() as session:
        queued = session.query(AssetDagRunQueue).filter_by(target_dag_id="it_fixed_asset_consumer").all()
        assert [q.asset.uri for q in queued] == [uri]

    empty = dags["it_fixed_asset"].test(logical_date=DAY, run_conf={"store": f"file://{tmp_path}", "ids": []})
    assert empty.state == "success"
    assert events_of(empty.run_id) == [{"uri": uri}]  # Airflow's event, no extra: nothing was written
