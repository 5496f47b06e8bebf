"""DAGs for the resume / deferral tests (tests/unit/provider/test_resume.py,
tests/integration/test_resume_processes.py). The store comes from ``dag_run.conf["store"]``, the API from
``bulk_fetch_default``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

STORE = "{{ dag_run.conf.get('store', 'xcom') }}"
START = datetime(2024, 1, 1)

# two mapped instances; lane "b" is the one a test cuts off mid-way (the demo API's /_cutoff ?query=lane=b)
with DAG("it_resume_mapped", schedule=None, start_date=START):
    BulkFetchOperator.partial(
        task_id="fetch",
        endpoint="/items/{id}",
        store=STORE,
        retries=1,
        retry_delay=timedelta(0),
        retry_max_attempts=1,
        records_per_part=10,
        max_concurrency=4,
    ).expand_kwargs(
        [
            {"ids": {"start": 0, "end": 60}, "query_params": {"lane": "a"}},
            {"ids": {"start": 60, "end": 120}, "query_params": {"lane": "b"}},
        ]
    )

# a quota that runs out mid-way with a Retry-After longer than defer_after_seconds
with DAG("it_resume_defer", schedule=None, start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids={"start": 0, "end": 40},
        store=STORE,
        deferrable=True,
        defer_after_seconds=1,
        records_per_part=5,
        max_concurrency=2,
    )

# long enough (rate limited) to be SIGTERMed mid-way; one retry resumes
with DAG("it_resume_sigterm", schedule=None, start_date=START):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids={"start": 0, "end": 300},
        store=STORE,
        retries=1,
        retry_delay=timedelta(0),
        rate_limit_requests=40,
        records_per_part=10,
        max_concurrency=4,
    )
