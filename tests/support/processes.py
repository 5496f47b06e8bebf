"""Helpers for tests that run Airflow or servers as child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path


def airflow_env(home: Path, sql_alchemy_conn: str, **settings: str) -> dict[str, str]:
    """This process's environment minus every Airflow setting, connection and variable, plus a fresh
    ``AIRFLOW_HOME`` on ``sql_alchemy_conn`` with no example DAGs; ``settings`` are added as given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        and k not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sql_alchemy_conn,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        **settings,
    )
    return env


def stop_process_group(proc: subprocess.Popen, grace_seconds: float = 10) -> None:
    """SIGTERM the process group of ``proc`` (started with ``start_new_session=True``), SIGKILL it after
    ``grace_seconds``, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
