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
    assert set(bag.dags) == {"bulk_fetch_daily_records", "bulk_fetch_mapped_ids", "bulk_fetch_xcom_to_task"}


def test_example_dags_serialize():
    """The scheduler and dag.test() work on the serialized DAG: every operator must survive it."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in DagBag(dag_folder=str(EXAMPLES)).dags.values():
        DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
