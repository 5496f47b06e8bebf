"""The example DAG folder: loads with no import errors and survives serialization."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[3] / "dags_examples"
UTC = timezone.utc


def test_example_dags_load_with_zero_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dags) == {
        "bulk_fetch_daily_records",
        "bulk_fetch_mapped_ids",
        "bulk_fetch_xcom_to_task",
        "bulk_fetch_assets_producer",
        "bulk_fetch_assets_consumer",
        "bulk_fetch_decorator",
        "bulk_fetch_paginated_daily",
        "bulk_fetch_batch_lookup",
    }


def test_example_dags_serialize():
    """The scheduler and dag.test() work on the serialized DAG: every operator must survive it."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bulk_fetch_tasks = 0
    for dag in DagBag(dag_folder=str(EXAMPLES)).dags.values():
        back = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
        assert back.dag_id == dag.dag_id
        assert type(back.timetable).__name__ == type(dag.timetable).__name__, dag.dag_id
        assert set(back.task_dict) == set(dag.task_dict), dag.dag_id
        for task_id, task in dag.task_dict.items():
            got = back.task_dict[task_id]
            assert got.task_type == task.task_type, task_id
            assert back.task_dict[task_id].downstream_task_ids == task.downstream_task_ids, task_id
            if task.task_type != "BulkFetchOperator":
                continue
            bulk_fetch_tasks += 1
            assert list(got.template_fields) == list(task.template_fields), task_id
            if hasattr(task, "partial_kwargs"):  # mapped: the partial arguments survive
                for name in ("endpoint", "store", "max_failures", "max_concurrency"):
                    assert got.partial_kwargs[name] == task.partial_kwargs[name], (task_id, name)
            else:  # what the operator renders and runs: every templated argument, unchanged
                for name in task.template_fields:
                    assert getattr(got, name) == getattr(task, name), (task_id, name)
    assert bulk_fetch_tasks == 6  # daily, mapped, xcom, assets producer, paginated daily, batch lookup
