"""Example 4: data-aware scheduling — the fetch announces the partition it wrote, the next DAG runs on it.

``bulk_fetch_assets_producer`` fetches each day's records into ``<data url>/asset_records/<interval>/`` and
adds that partition's asset (``file:///.../asset_records/20240101T000000Z_20240102T000000Z``) to the asset
alias ``bulk_fetch_records``, with the event extra ``{"records", "parts", "interval", "manifest", "failed"}``.
Nothing is announced when the task fails or writes no records.

``bulk_fetch_assets_consumer`` is scheduled on that alias: the scheduler starts it after each announced
partition, and its task reads the manifest of every partition that triggered it (where the warehouse load
or the dbt run would go).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, AssetAlias, CronDataIntervalTimetable, ObjectStoragePath, task

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

RECORDS_ALIAS = AssetAlias("bulk_fetch_records")
DATA_URL = "{{ var.value.get('bulk_fetch_data_url', 'file:///tmp/bulk_fetch_data') }}"

with DAG(
    dag_id="bulk_fetch_assets_producer",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["bulk_fetch", "example", "assets"],
    doc_md=__doc__,
):
    BulkFetchOperator(
        task_id="fetch_records",
        endpoint="/records",
        query_params={"start": "{start}", "end": "{end}"},
        record_path=".",
        store=DATA_URL + "/asset_records",
        outlets=[RECORDS_ALIAS],
    )


with DAG(
    dag_id="bulk_fetch_assets_consumer",
    schedule=RECORDS_ALIAS,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    tags=["bulk_fetch", "example", "assets"],
    doc_md=__doc__,
):

    @task
    def load_partitions(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One entry per partition that triggered this run: its URI, records and parts per the manifest."""
        loaded = []
        for event in (triggering_asset_events or {}).get(RECORDS_ALIAS, []):
            manifest = json.loads(ObjectStoragePath(event.extra["manifest"]).read_text())
            loaded.append(
                {
                    "uri": event.asset.uri,
                    "records": manifest["records"],
                    "parts": [part["path"] for part in manifest["parts"]],
                }
            )
        print(f"loading {len(loaded)} partition(s): {loaded}")
        return loaded

    load_partitions()
