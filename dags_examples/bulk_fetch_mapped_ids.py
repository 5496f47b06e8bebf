"""Example 2: an id range fanned out with dynamic task mapping.

``id_chunks`` turns the ``first_id``/``last_id``/``chunk_size`` params into one ``{"ids": {"start", "end"}}``
dict per slice (refusing more slices than ``[core] max_map_length``), and each slice becomes its own
mapped ``BulkFetchOperator`` instance — with the Celery or Kubernetes executor they run on different
workers, each keeping the connection's rate limit (so N parallel instances send up to N x the limit:
lower ``rate_limit_requests`` per task, or use a pool, when the API's quota is global).

Output: ``<data url>/items/run_id=<run>/part-m<map index>-*.jsonl.gz`` + ``manifest-m<map index>.json``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.utils.mapping import id_range_kwargs

with DAG(
    dag_id="bulk_fetch_mapped_ids",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={
        "first_id": Param(1, type="integer", minimum=0),
        "last_id": Param(1000, type="integer", minimum=0),
        "chunk_size": Param(250, type="integer", minimum=1),
    },
    tags=["bulk_fetch", "example"],
    doc_md=__doc__,
):

    @task
    def id_chunks(params: dict | None = None) -> list[dict]:
        assert params is not None
        return id_range_kwargs(params["first_id"], params["last_id"] + 1, params["chunk_size"])

    BulkFetchOperator.partial(
        task_id="fetch_items",
        endpoint="/items/{id}",
        store="{{ var.value.get('bulk_fetch_data_url', 'file:///tmp/bulk_fetch_data') }}/items",
        max_failures=0,
        max_concurrency=16,
    ).expand_kwargs(id_chunks())
