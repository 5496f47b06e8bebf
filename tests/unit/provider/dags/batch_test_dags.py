"""DAGs for the batch-lookup tests (tests/unit/provider/test_batch_requests.py): 10 000 ids, 100 per POST,
into the store from ``dag_run.conf["store"]``; the API is ``bulk_fetch_default`` (the demo API)."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

STORE = "{{ dag_run.conf.get('store', 'xcom') }}"

# one retry; a test cuts the API off mid-way (the demo API's /_cutoff) so that try 1 fails
with DAG("it_batch_retry", schedule=None, start_date=datetime(2024, 1, 1)):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/batch/items",
        method="POST",
        json={"ids": "{ids}"},
        ids={"start": 0, "end": 10_000},
        ids_per_request=100,
        record_path="data",
        store=STORE,
        retries=1,
        retry_delay=timedelta(0),
        retry_max_attempts=1,
        records_per_part=500,
        max_concurrency=4,
    )
