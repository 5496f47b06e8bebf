"""Example: a batch lookup — 10 000 ids, 100 per ``POST``, into object storage.

The API takes up to 100 ids per request in a JSON body (``POST /batch/items {"ids": [...]}``, the demo API's
batch endpoint; 400 above 100). ``ids_per_request=100`` groups the ids 100 at a time and ``"{ids}"`` in the
body becomes the JSON list of each group: 100 requests instead of 10 000, under the connection's rate limit.
Each group is one unit of progress: a retry re-sends only the groups not stored yet, and a group that fails
is one line of ``failures.jsonl`` listing its ids. A lookup only reads, so ``retry_non_idempotent=True``
lets the engine retry a POST whose connection dropped (by default only a refused connection, a 429 or a 503
with ``Retry-After`` are retried for a POST).

Output: ``<data url>/batch_lookup/run_id=<run>/``.
Connection: ``bulk_fetch_default``. See ``docs/batch-post-graphql.md``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

with DAG(
    dag_id="bulk_fetch_batch_lookup",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["bulk_fetch", "example", "batch"],
    doc_md=__doc__,
):
    BulkFetchOperator(
        task_id="lookup_items",
        endpoint="/batch/items",
        method="POST",
        json={"ids": "{ids}"},
        ids={"start": 0, "end": 10_000},
        ids_per_request=100,
        retry_non_idempotent=True,
        record_path="data",
        store="{{ var.value.get('bulk_fetch_data_url', 'file:///tmp/bulk_fetch_data') }}/batch_lookup",
        max_failures=0,
    )
