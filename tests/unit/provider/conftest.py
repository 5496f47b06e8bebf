"""Fixtures for the Airflow layer's tests.

One session-scoped Airflow home (temp dir) is configured *before* Airflow is imported: the metadata database
defaults to SQLite there and can be swapped with ``BULK_FETCH_TEST_SQL_ALCHEMY_CONN`` (e.g. a throwaway
PostgreSQL URL) without touching the tests. ``dag.test()`` costs ~12 s the first time in a process and
~0.3 s afterwards, so every integration test shares the one database (fixture ``airflow_db``).

DAGs run by ``dag.test()`` must live in a file under DAGS_FOLDER: that is ``tests/unit/provider/dags/``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_home import DAGS_FOLDER, EXAMPLES_FOLDER, HOME

HERE = Path(__file__).resolve().parent
TOKEN = "test-token-9f8e7d6c5b"  # the demo API's secret; tests assert it never leaks
QUERY_AUTH_NAME = "api_key"  # the query parameter of :func:`query_auth_api`
_HOME = HOME  # configured by tests/conftest.py before Airflow is imported


# Importing Airflow configures logging process-wide (e.g. the ``httpx`` logger is set to WARNING). Put these
# levels back after each test here so the rest of the suite sees the logging it would see without us.
_LOGGERS = ("", "httpx", "httpcore", "aiohttp", "aiohttp.client", "asyncio", "airflow_provider_bulk_uploader")
_LEVELS = {name: logging.getLogger(name).level for name in _LOGGERS}


@pytest.fixture(autouse=True)
def _restore_logging_levels() -> Iterator[None]:
    yield
    for name, level in _LEVELS.items():
        logging.getLogger(name).setLevel(level)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


def conn_json(url: str, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` JSON value for the demo API at ``url`` (header auth with :data:`TOKEN`)."""
    extras = {"auth_type": "header", "auth_name": "X-API-Key", **extra}
    return json.dumps({"conn_type": "bulk_fetch", "host": url, "password": TOKEN, "extra": extras})


@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``set_conn(conn_id="bulk_fetch_default", **fields)``: connection ``conn_id`` of type ``bulk_fetch``
    with ``fields`` (``host``, ``password``, ``extra`` …) as ``AIRFLOW_CONN_<CONN_ID>`` JSON, for one test."""

    def _set(conn_id: str = "bulk_fetch_default", **fields: Any) -> None:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "bulk_fetch", **fields})
        )

    return _set


@pytest.fixture
def task_states(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[Any]]:
    """``task_states(dag_id)``: a list that gets every state ``TaskInstance.set_state`` is called with for a
    task of ``dag_id`` (a spy on Airflow's method, undone at teardown) — how a ``dag.test()`` run shows that a
    task went through ``deferred``."""

    def watch(dag_id: str) -> list[Any]:
        from airflow.models.taskinstance import TaskInstance

        states: list[Any] = []
        original = TaskInstance.set_state

        def spy(self: Any, state: Any, *args: Any, **kwargs: Any) -> Any:
            if self.dag_id == dag_id:
                states.append(state)
            return original(self, state, *args, **kwargs)

        monkeypatch.setattr(TaskInstance, "set_state", spy)
        return states

    return watch


@pytest.fixture(scope="session")
def demo_api() -> Iterator[Any]:
    """The repo's demo API on a free loopback port (header auth, generous rate limit, no faults)."""
    from airflow_provider_bulk_uploader.testing import running_demo_api

    with running_demo_api(token=TOKEN, auth="header", rate_limit=2000, period=1.0) as api:
        yield api


@pytest.fixture
def api(demo_api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The demo API, reset, with ``bulk_fetch_default`` pointing at it. Requests an earlier test abandoned
    (timed out on the client, still sleeping on the server) are waited out first (at most 5 s), so they
    cannot count in this test's in-flight figures."""
    deadline = time.monotonic() + 5
    while demo_api.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    demo_api.reset()
    monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json(demo_api.url))
    return demo_api


@pytest.fixture
def query_auth_api(api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """:func:`api` switched to query-parameter auth (``?api_key=<TOKEN>``, the riskiest mode: the token is
    in every URL), with ``bulk_fetch_default`` to match; header auth is restored at teardown."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json(api.url, auth_type="query", auth_name=QUERY_AUTH_NAME)
    )
    api.auth, api.auth_name = "query", QUERY_AUTH_NAME
    try:
        yield api
    finally:
        api.auth, api.auth_name = "header", "X-API-Key"


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the session's metadata database once; returns its SQLAlchemy URL."""
    from airflow import settings
    from airflow.utils import db

    db.initdb()
    return str(settings.engine.url) if settings.engine is not None else ""


@pytest.fixture(scope="session")
def dags(airflow_db: str) -> dict[str, Any]:
    """The DAGs of ``tests/unit/provider/dags`` and ``dags_examples`` by id (parsed once)."""
    from airflow.dag_processing.dagbag import DagBag

    found: dict[str, Any] = {}
    for folder in (DAGS_FOLDER, EXAMPLES_FOLDER):
        bag = DagBag(dag_folder=str(folder))
        assert not bag.import_errors, bag.import_errors
        found.update(bag.dags)
    return found
