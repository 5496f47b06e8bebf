"""Example 3: a small fetch kept in XCom and consumed by a downstream ``@task``.

``store="xcom"`` pushes the records under XCom key ``records`` (refusing above ``xcom_max_bytes``, 1 MiB by
default — use object storage for more) and returns a summary as ``return_value``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

with DAG(
    dag_id="bulk_fetch_xcom_to_task",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["bulk_fetch", "example"],
    doc_md=__doc__,
):
    fetch = BulkFetchOperator(
        task_id="fetch_items",
        endpoint="/items/{id}",
        ids={"start": 1, "end": 21},  # ids 1..20
        store="xcom",
    )

    @task
    def total_value(records: list[dict], summary: dict) -> dict:
        """Aggregate the fetched records (they arrive in completion order, not id order)."""
        total = round(sum(r["value"] for r in records), 3)
        print(f"{len(records)} records, total value {total}; fetch summary: {summary}")
        return {"records": len(records), "total_value": total, "failed": summary["failed"]}

    total_value(fetch.output["records"], fetch.output)
