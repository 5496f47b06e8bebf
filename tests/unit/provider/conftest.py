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
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
DAGS_FOLDER = HERE / "dags"
EXAMPLES_FOLDER = HERE.parents[2] / "dags_examples"
TOKEN = "test-token-9f8e7d6c5b"  # the demo API's secret; tests assert it never leaks
QUERY_AUTH_NAME = "api_key"  # the query parameter of :func:`query_auth_api`

_HOME = Path(tempfile.mkdtemp(prefix="bulk-fetch-airflow-"))
if "airflow.settings" in sys.modules:  # pragma: no cover - depends on test ordering/plugins
    warnings.warn(
        "airflow was imported before tests/unit/provider/conftest.py configured AIRFLOW_HOME; "
        "the Airflow tests may use another metadata database",
        stacklevel=1,
    )
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get("BULK_FETCH_TEST_SQL_ALCHEMY_CONN")
        or f"sqlite:///{_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # two bundles, so dag.test() can run the example DAGs as well as the test DAGs
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": name,
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(path), "refresh_interval": 0},
                }
                for name, path in (("tests", DAGS_FOLDER), ("examples", EXAMPLES_FOLDER))
            ]
        ),
    }
)


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
