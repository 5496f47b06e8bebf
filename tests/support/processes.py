"""Child processes of the tests: the ``airflow`` command, a clean Airflow environment, start and stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path


def airflow_cmd() -> list[str]:
    """The ``airflow`` CLI of this interpreter's environment (``python -m airflow`` if no script)."""
    exe = Path(sys.executable).with_name("airflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "airflow"]


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


def start_process_group(
    cmd: Sequence[str], *, log_path: Path, env: dict[str, str] | None = None, **popen: object
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session (so :func:`stop_process_group` reaches its children too), stdout
    and stderr appended to ``log_path``."""
    with log_path.open("ab") as log:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            list(cmd), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **popen
        )


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


@contextlib.contextmanager
def process_group(
    cmd: Sequence[str], *, log_path: Path, grace_seconds: float = 10, **kwargs: object
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`start_process_group` for the ``with`` block, :func:`stop_process_group` after it."""
    proc = start_process_group(cmd, log_path=log_path, **kwargs)  # type: ignore[arg-type]
    try:
        yield proc
    finally:
        stop_process_group(proc, grace_seconds=grace_seconds)
