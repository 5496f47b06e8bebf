"""Example: every page of a paginated endpoint, one stream per day of the data interval.

Each run fetches ``[data_interval_start, data_interval_end)`` split into days; each day's first request is
``/pages/cursor?start={start}&end={end}&step=60`` (one record a minute: 1 440 a day, 100 a page) and the
engine follows the cursor in ``meta.next_cursor`` (sent back as ``?cursor=``) to the last page of the day,
under the connection's rate limit. Records land in ``<data url>/paginated_daily/<interval>/`` with a
manifest whose report counts pages and records per day (stream). Rerunning a day overwrites its files.

``make demo-paginated`` runs it against the loopback demo API. Connection: ``bulk_fetch_default``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

DATA_URL = "{{ var.value.get('bulk_fetch_data_url', 'file:///tmp/bulk_fetch_data') }}"

with DAG(
    dag_id="bulk_fetch_paginated_daily",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=4,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["bulk_fetch", "example", "pagination"],
    doc_md=__doc__,
):
    BulkFetchOperator(
        task_id="fetch_pages",
        endpoint="/pages/cursor",
        query_params={"start": "{start}", "end": "{end}", "step": 60},  # the first page of each day
        delta_days=1,
        pagination={"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"},
        record_path="data",  # the records of each page
        store=DATA_URL + "/paginated_daily",
        max_failures=0,
    )
