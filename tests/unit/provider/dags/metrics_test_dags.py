"""A DAG for the metrics test (tests/unit/provider/test_metrics_statsd.py): ``airflow dags test it_metrics``
with Airflow's StatsD client pointed at a UDP socket the test reads. Store from ``dag_run.conf["store"]``,
the API from connection ``bulk_fetch_default``."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

with DAG("it_metrics", schedule=None, start_date=datetime(2024, 1, 1)):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids={"start": 1, "end": 61},
        store="{{ dag_run.conf.get('store', 'xcom') }}",
        records_per_part=25,  # several parts, written during the run
        retry_max_attempts=8,
        max_failures=60,
    )
