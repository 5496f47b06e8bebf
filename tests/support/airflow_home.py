"""The suite's one Airflow home, configured before anything imports Airflow.

Airflow reads its configuration at import, and a test module anywhere (integration tests included) may
import the operator at collection: ``tests/conftest.py`` calls :func:`configure` first, so every test and
every ``airflow`` child process that inherits ``os.environ`` uses this home and its metadata database.

The database is SQLite in a temp dir unless ``BULK_FETCH_TEST_SQL_ALCHEMY_CONN`` names another (e.g. a
throwaway PostgreSQL URL); ``dag.test()`` needs DAGs in a file under the DAGS_FOLDER
(``tests/unit/provider/dags``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO / "tests" / "unit" / "provider" / "dags"
EXAMPLES_FOLDER = REPO / "dags_examples"
HOME = Path(tempfile.mkdtemp(prefix="bulk-fetch-airflow-"))


def configure() -> None:
    """Point Airflow at :data:`HOME` (idempotent; warns if Airflow was imported before)."""
    if "airflow.settings" in sys.modules:  # pragma: no cover - depends on test ordering/plugins
        warnings.warn(
            "airflow was imported before tests/conftest.py configured AIRFLOW_HOME; "
            "the Airflow tests may use another metadata database",
            stacklevel=1,
        )
    os.environ.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": os.environ.get("BULK_FETCH_TEST_SQL_ALCHEMY_CONN")
            or f"sqlite:///{HOME / 'airflow.db'}",
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
