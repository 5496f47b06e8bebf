"""``@task.bulk_fetch``: registration with Airflow, ids or URLs from the function, and ``dag.test()``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_bulk_uploader.decorators.bulk_fetch import UrlList
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

from .conftest import TOKEN
from .helpers import make_context, utc

PARTITION = "20240101T000000Z_20240102T000000Z"


def test_registered_as_a_task_decorator():
    from airflow.sdk import task
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from airflow_provider_bulk_uploader.decorators.bulk_fetch import bulk_fetch_task
    from airflow_provider_bulk_uploader.get_provider_info import get_provider_info

    assert get_provider_info()["task-decorators"] == [
        {
            "name": "bulk_fetch",
            "class-name": "airflow_provider_bulk_uploader.decorators.bulk_fetch.bulk_fetch_task",
        }
    ]
    assert ProvidersManagerTaskRuntime().taskflow_decorators["bulk_fetch"] is bulk_fetch_task
    assert task.bulk_fetch is bulk_fetch_task


def test_airflow_cli_shows_the_decorator(tmp_path):
    """``providers get --full`` shows the decorator; ``providers list`` and ``info`` show the provider."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__DATABASE")}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"})
    airflow = str(Path(sys.executable).parent / "airflow")

    def cli(*args: str) -> str:
        result = subprocess.run(
            [airflow, *args], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    full = json.loads(cli("providers", "get", "airflow-provider-bulk-uploader", "--full", "-o", "json"))
    assert full[0]["task-decorators"] == [
        {
            "name": "bulk_fetch",
            "class-name": "airflow_provider_bulk_uploader.decorators.bulk_fetch.bulk_fetch_task",
        }
    ]
    listed = json.loads(cli("providers", "list", "-o", "json"))
    assert "airflow-provider-bulk-uploader" in {p["package_name"] for p in listed}
    assert "airflow-provider-bulk-uploader" in cli("info")


def _task(**kwargs):
    from airflow.sdk import DAG, task

    function = kwargs.pop("function")
    with DAG("decorator_unit", schedule=None) as dag:
        task.bulk_fetch(task_id="fetch", **kwargs)(function)()
    return dag.task_dict["fetch"]


def test_function_returns_ids_for_the_endpoint(api, tmp_path):
    op = _task(function=lambda: range(3, 6), endpoint="/items/{id}", store=f"file://{tmp_path}")
    assert op.custom_operator_name == "@task.bulk_fetch"
    summary = op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))
    assert summary["requested"] == 3 and summary["records"] == 3
    assert sorted(r.path for r in api.requests) == ["/items/3", "/items/4", "/items/5"]
    assert (tmp_path / PARTITION / "manifest.json").exists()


def test_function_may_return_a_generator_of_ids(api):
    op = _task(function=lambda: (i * 2 for i in range(1, 3)), endpoint="/items/{id}")
    assert op.execute(make_context())["succeeded"] == 2
    assert sorted(r.path for r in api.requests) == ["/items/2", "/items/4"]


def test_function_gets_context_and_arguments(api):
    from airflow.sdk import DAG, task

    @task.bulk_fetch(endpoint="/items/{id}", task_id="fetch")
    def ids(first: int, count: int, run_id: str | None = None) -> dict:
        assert run_id == "manual__2024-01-01T00:00:00+00:00"
        return {"start": first, "end": first + count}  # an id range, end exclusive

    with DAG("decorator_args", schedule=None) as dag:
        ids(10, count=2)
    summary = dag.task_dict["fetch"].execute(make_context())
    assert summary["succeeded"] == 2 and sorted(r.path for r in api.requests) == ["/items/10", "/items/11"]


def test_function_returns_urls_without_endpoint(api):
    absolute = api.url.rstrip("/") + "/items/7"
    op = _task(function=lambda: ["/items/1", "items/2", absolute])
    summary = op.execute(make_context())
    assert summary["requested"] == 3 and summary["succeeded"] == 3
    assert sorted(r.path for r in api.requests) == ["/items/1", "/items/2", "/items/7"]
    assert all(r.headers.get("X-API-Key") == TOKEN for r in api.requests)


def test_urls_on_another_origin_are_refused_before_any_request(api):
    op = _task(function=lambda: ["/items/1", "http://127.0.0.2:9/steal?api_key=x"])
    with pytest.raises(BulkFetchConfigError, match="not on the connection's origin") as info:
        op.execute(make_context())
    assert "api_key=***" in str(info.value)
    assert api.requests == []


@pytest.mark.parametrize("value", ["/items/1", None, 42])
def test_function_must_return_a_list_of_urls(api, value):
    op = _task(function=lambda: value)
    with pytest.raises(BulkFetchConfigError, match="must return a list of URLs"):
        op.execute(make_context())


def test_ids_argument_is_refused():
    with pytest.raises(BulkFetchConfigError, match="the decorated function returns them"):
        _task(function=lambda: [1], endpoint="/items/{id}", ids=[1, 2])


def test_url_list_resolution():
    urls = UrlList("https://api.example.com/v1/", ["/a", "b?x=1", "https://API.example.com:443/v1/c"])
    assert list(urls) == [
        "https://api.example.com/v1/a",
        "https://api.example.com/v1/b?x=1",
        "https://API.example.com:443/v1/c",
    ]
    assert len(urls) == 3 and urls.chunks == [None]
    with pytest.raises(BulkFetchConfigError, match="URL strings"):
        UrlList("https://api.example.com", [7])
    with pytest.raises(BulkFetchConfigError, match="origin"):
        UrlList("https://api.example.com", ["http://api.example.com/a"])  # other scheme = other origin


@pytest.mark.airflow
@pytest.mark.integration
def test_decorator_example_with_dag_test(dags, api, tmp_path, monkeypatch):
    from .test_dag_runs import xcom

    monkeypatch.setenv("AIRFLOW_VAR_BULK_FETCH_DATA_URL", f"file://{tmp_path}")
    dag_run = dags["bulk_fetch_decorator"].test(run_conf={"first_id": 5, "count": 4})
    tis = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "success", tis
    items = xcom(dag_run, "changed_items")
    assert items["requested"] == 4 and items["succeeded"] == 4 and items["records"] == 4
    assert sorted(r.path for r in api.requests if r.path.startswith("/items/")) == [
        "/items/5",
        "/items/6",
        "/items/7",
        "/items/8",
    ]
    checks = xcom(dag_run, "health_checks")
    assert checks["succeeded"] == 2
    [partition] = (tmp_path / "decorated_items").iterdir()
    assert json.loads((partition / "manifest.json").read_text())["records"] == 4


@pytest.mark.airflow
@pytest.mark.integration
def test_decorated_task_maps_over_its_arguments(dags, api):
    from .test_dag_runs import xcom

    dag_run = dags["it_decorator_mapped"].test()
    tis = {(ti.task_id, ti.map_index): ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == "success", tis
    assert sorted(i for (t, i) in tis if t == "id_slice") == [0, 1, 2]
    assert xcom(dag_run, "total") == 6
    assert sorted(int(r.path.rsplit("/", 1)[1]) for r in api.requests) == [1, 2, 11, 12, 21, 22]
