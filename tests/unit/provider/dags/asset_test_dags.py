"""DAGs for ``tests/unit/provider/test_assets.py``: a fixed ``Asset`` outlet (Airflow's standard behaviour).

The store comes from ``dag_run.conf["store"]``, the ids from ``dag_run.conf["ids"]``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

FIXED_ASSET = Asset("file:///bulk-fetch-tests/fixed-items")

with DAG(
    "it_fixed_asset",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1),
    render_template_as_native_obj=True,
):
    BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids="{{ dag_run.conf['ids'] }}",
        store="{{ dag_run.conf['store'] }}",
        outlets=[FIXED_ASSET],
    )

with DAG("it_fixed_asset_consumer", schedule=FIXED_ASSET, start_date=datetime(2024, 1, 1)):
    BulkFetchOperator(task_id="noop", endpoint="/items/{id}", ids=[])
