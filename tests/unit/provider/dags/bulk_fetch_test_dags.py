"""DAGs for the dag.test() integration tests (tests/unit/provider/test_dag_runs.py).

Stores come from ``dag_run.conf["store"]`` (templated), the API from connection ``bulk_fetch_default``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable, task

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.utils.mapping import interval_kwargs

STORE = "{{ dag_run.conf.get('store', 'xcom') }}"
START = datetime(2024, 1, 1)

with DAG("it_weekly", schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"), start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/records",
        query_params={"start": "{start}", "end": "{end}"},
        delta_days=1,
        record_path=".",
        store=STORE,
    )

with DAG("it_trigger_daily", schedule="@daily", start_date=START):  # zero-length intervals
    BulkFetchOperator(task_id="fetch", endpoint="/records?start={start}&end={end}", record_path=".")

with DAG("it_mapped_days", schedule=CronDataIntervalTimetable("0 0 * * 1", timezone="UTC"), start_date=START):

    @task
    def day_chunks(data_interval_start=None, data_interval_end=None) -> list[dict]:
        return interval_kwargs(data_interval_start, data_interval_end, delta_days=2)

    BulkFetchOperator.partial(
        task_id="fetch",
        endpoint="/records?start={start}&end={end}",
        record_path=".",
        store=STORE,
    ).expand_kwargs(day_chunks())

with DAG("it_failures", schedule=None, start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids=[1, 2, "missing"],
        retry_max_attempts=1,
        store=STORE,
    )
