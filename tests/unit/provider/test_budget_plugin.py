"""plugins/budgets.py without an API server: the plugin is what the ``airflow.plugins`` entry point names and
Airflow's plugins manager accepts, and ``collect_budgets`` (the JSON of ``GET /bulk-fetch/api/budgets``) on a
real redis-server: the setup hint when no budget exists, the connections on a key, a Redis that cannot be
read reported without its password. The page, the auth and the browser: tests/integration/test_budget_page.py.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

from tests.support.redis import redis_or_skip

pytestmark = [pytest.mark.integration, pytest.mark.redis]

PASSWORD = "redis-Pw-51e2"


def test_the_entry_point_names_a_valid_plugin() -> None:
    from airflow.plugins_manager import is_valid_plugin

    from airflow_provider_bulk_uploader.plugins.budgets import BulkFetchBudgetsPlugin

    (entry,) = [e for e in entry_points(group="airflow.plugins") if e.name == "bulk_fetch"]
    assert entry.load() is BulkFetchBudgetsPlugin and is_valid_plugin(BulkFetchBudgetsPlugin)
    (app,) = BulkFetchBudgetsPlugin.fastapi_apps
    assert app["url_prefix"] == "/bulk-fetch"
    paths = {route.path for route in app["app"].routes}
    assert {"/api/budgets", "/budgets"} <= paths
    assert BulkFetchBudgetsPlugin.external_views[0]["href"] == "/bulk-fetch/budgets"


def _conn(monkeypatch, conn_id: str, **extra) -> None:
    body = {"conn_type": "bulk_fetch", "host": "https://api.example.com", "password": "t", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(body))


def test_no_budget_says_how_to_set_one_up_and_a_broken_redis_is_named(airflow_db, monkeypatch) -> None:
    from airflow_provider_bulk_uploader.plugins.budgets import SETUP, collect_budgets

    with redis_or_skip(password=PASSWORD) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BUDGETS", f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0")
        monkeypatch.setenv("AIRFLOW_CONN_GONE", f"redis://:{PASSWORD}@127.0.0.1:1/0")
        _conn(monkeypatch, "api_a", rate_limit_scope="shared", rate_limit_key="k", redis_conn_id="budgets")
        _conn(monkeypatch, "api_b", rate_limit_scope="shared", redis_conn_id="gone")
        _conn(monkeypatch, "api_c", rate_limit_requests=5)
        data = collect_budgets()
    assert data["budgets"] == [] and data["setup"] == SETUP
    text = json.dumps(data)
    assert PASSWORD not in text and "api.example.com" not in text
    servers = {r["redis_conn_id"]: r for r in data["redis"]}
    assert servers["budgets"]["error"] is None and servers["budgets"]["used_by"] == ["api_a"]
    assert servers["gone"]["error"] and servers["gone"]["used_by"] == ["api_b"]
    connections = {c["conn_id"]: c for c in data["connections"]}
    assert connections["api_a"]["rate_limit_key"] == "k"
    assert connections["api_b"]["rate_limit_key"] == "api_b"  # the default: the connection id
    assert connections["api_c"]["rate_limit_scope"] == "task" and connections["api_c"]["num_requests"] == 5
