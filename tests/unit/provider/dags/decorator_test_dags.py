"""DAGs for ``tests/unit/provider/test_decorator.py`` (dynamic task mapping of ``@task.bulk_fetch``)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

with DAG(dag_id="it_decorator_mapped", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):

    @task.bulk_fetch(endpoint="/items/{id}", max_failures=0)
    def id_slice(first: int, count: int = 2) -> list[int]:
        return list(range(first, first + count))

    @task
    def total(summaries: list[dict]) -> int:
        return sum(s["succeeded"] for s in summaries)

    total(id_slice.expand(first=[1, 11, 21]))
