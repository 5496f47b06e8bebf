"""Example 5: ``@task.bulk_fetch`` — a TaskFlow function decides what to fetch, the operator fetches it.

``changed_items`` returns the ids for ``endpoint`` (a list, a ``range`` or ``{"start": a, "end": b}``);
without ``endpoint`` the function returns the URLs themselves (paths on the connection's base URL).
Every other argument is a ``BulkFetchOperator`` argument; the task's XCom is the fetch summary.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, task

DATA_URL = "{{ var.value.get('bulk_fetch_data_url', 'file:///tmp/bulk_fetch_data') }}"

with DAG(
    dag_id="bulk_fetch_decorator",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"first_id": Param(1, type="integer", minimum=0), "count": Param(20, type="integer", minimum=1)},
    tags=["bulk_fetch", "example"],
    doc_md=__doc__,
):

    @task.bulk_fetch(endpoint="/items/{id}", store=DATA_URL + "/decorated_items", max_failures=0)
    def changed_items(params: dict | None = None) -> range:
        assert params is not None
        return range(params["first_id"], params["first_id"] + params["count"])

    @task.bulk_fetch(store=DATA_URL + "/decorated_health")
    def health_checks() -> list[str]:
        return ["/health", "/"]

    @task
    def report(items: dict, checks: dict) -> None:
        print(f"items: {items['succeeded']}/{items['requested']}; checks: {checks['succeeded']}")

    report(changed_items(), health_checks())
