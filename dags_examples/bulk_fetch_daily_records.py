"""Example 1: fetch each day's records into object storage — backfill-ready.

Every run fetches its own data interval ``[data_interval_start, data_interval_end)`` (one day: the
``CronDataIntervalTimetable`` gives real intervals; plain ``"@daily"`` would give zero-length ones) and writes
``<data url>/daily_records/<interval>/part-*.jsonl.gz`` + ``manifest.json``. Rerunning or backfilling a day
overwrites that day's files, so::

    airflow backfill create --dag-id bulk_fetch_daily_records --from-date 2024-01-01 --to-date 2024-01-31

is safe to repeat. Where the data goes: Airflow Variable ``bulk_fetch_data_url`` (e.g.
``file:///data/bulk`` or ``s3://aws_default@my-bucket/bulk``; env ``AIRFLOW_VAR_BULK_FETCH_DATA_URL``).
The API: connection ``bulk_fetch_default`` (``make demo`` points it at the demo API).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

DATA_URL = "{{ var.value.get('bulk_fetch_data_url', 'file:///tmp/bulk_fetch_data') }}"

with DAG(
    dag_id="bulk_fetch_daily_records",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["bulk_fetch", "example"],
    doc_md=__doc__,
):
    BulkFetchOperator(
        task_id="fetch_records",
        endpoint="/records",
        query_params={"start": "{start}", "end": "{end}"},  # filled per chunk, ISO 8601
        delta_days=1,
        record_path=".",  # each response is a JSON list of records
        store=DATA_URL + "/daily_records",
        max_failures=0,
    )
