"""DAGs for the paginated resume / deferral tests (tests/unit/provider/test_resume_pagination.py). Two days
of the demo API's ``/pages/{style}`` data (one stream a day, 144 records in 15 pages of 10); the store comes
from ``dag_run.conf["store"]``, the API from ``bulk_fetch_default``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

STORE = "{{ dag_run.conf.get('store', 'xcom') }}"
START = datetime(2024, 1, 1)
DAYS = {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-03T00:00:00+00:00"}
DAY = {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-02T00:00:00+00:00"}
PAGES = {"start": "{start}", "end": "{end}", "step": 600, "size": 10}
CURSOR = {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}

# sequential pages: day 2's stream is cut off mid-way, one retry continues it at its next cursor
with DAG("it_resume_pages_cursor", schedule=None, start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/pages/cursor",
        query_params=PAGES,
        pagination=CURSOR,
        record_path="data",
        store=STORE,
        retries=1,
        retry_delay=timedelta(0),
        retry_max_attempts=1,
        records_per_part=20,
        max_concurrency=2,
        **DAYS,
    )

# fanned-out pages (offset with a total): some of day 2's pages are dropped, one retry fetches just those
with DAG("it_resume_pages_offset", schedule=None, start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/pages/offset",
        query_params={"start": "{start}", "end": "{end}", "step": 600},
        pagination={"type": "offset", "limit": 10},
        record_path="data",
        store=STORE,
        retries=1,
        retry_delay=timedelta(0),
        retry_max_attempts=1,
        records_per_part=20,
        max_concurrency=4,
        **DAYS,
    )

# a quota that runs out in the middle of a cursor stream, with a Retry-After above defer_after_seconds
with DAG("it_resume_pages_defer", schedule=None, start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/pages/cursor",
        query_params=PAGES,
        pagination=CURSOR,
        record_path="data",
        store=STORE,
        deferrable=True,
        defer_after_seconds=1,
        records_per_part=20,
        max_concurrency=2,
        **DAY,
    )
