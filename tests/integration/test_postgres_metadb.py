"""Airflow on a real PostgreSQL metadata database (the production shape), started by the test setup.

A throwaway server (``tests/support/postgres.py``: temporary data dir, free loopback port, torn down
afterwards) gets ``airflow db migrate`` and then runs a tiny DAG twice with ``dag.test()``; the test then
reads the ``dag_run`` / ``task_instance`` rows straight from PostgreSQL, so a silent fallback to SQLite
cannot pass.

Airflow runs in subprocesses: its ORM is configured once per process at import time, and the in-process
Airflow fixture of ``tests/unit/provider`` uses SQLite.

Skips locally when the PostgreSQL server binaries are absent; fails under ``CI=true`` (``.ci/run`` installs
them). Measured on the 2-core dev machine: server up ~1.5 s, ``db migrate`` ~8 s, first ``dag.test()``
~13 s (then ~0.6 s), whole module ~35 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.postgres import create_database, postgres_url_or_skip
from tests.support.processes import airflow_cmd, airflow_env

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

TINY_DAG = textwrap.dedent(
    """
    import time

    import pendulum
    from airflow.sdk import dag, task


    @dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
    def pg_tiny():
        @task
        def produce():
            return {"records": 3}

        @task
        def consume(summary):
            assert summary == {"records": 3}, summary
            return summary["records"]

        consume(produce())


    the_dag = pg_tiny()

    if __name__ == "__main__":
        from airflow.settings import engine

        assert engine.url.get_backend_name() == "postgresql", engine.url
        for attempt in (1, 2):
            started = time.monotonic()
            run = the_dag.test()
            print(f"DAGTEST {attempt} {run.state} {time.monotonic() - started:.2f}s")
            assert run.state == "success", run.state
    """
)


def _airflow_env(home: Path, url: str) -> dict[str, str]:
    return airflow_env(home, url, AIRFLOW__CORE__UNIT_TEST_MODE="False")


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_url_or_skip() as url:
        yield url


@pytest.fixture(scope="module")
def migrated(postgres_url: str, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("airflow_home_pg")
    (home / "dags").mkdir()
    env = _airflow_env(home, postgres_url)
    started = time.monotonic()
    proc = subprocess.run(
        [*airflow_cmd(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    print(f"airflow db migrate on PostgreSQL: {time.monotonic() - started:.1f}s")
    return home, env


def _query(url: str, sql: str) -> list[tuple]:
    import psycopg2

    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://", 1))
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_db_migrate_creates_the_airflow_schema(migrated, postgres_url: str) -> None:
    tables = {
        row[0] for row in _query(postgres_url, "select tablename from pg_tables where schemaname='public'")
    }
    assert {"dag_run", "task_instance", "xcom", "connection", "alembic_version"} <= tables
    (version,) = _query(postgres_url, "select version_num from alembic_version")
    assert version[0]


def test_dag_test_runs_on_postgres(migrated, postgres_url: str) -> None:
    home, env = migrated
    dag_file = home / "dags" / "pg_tiny.py"
    dag_file.write_text(TINY_DAG)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=240
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-4000:]
    timings = [line for line in proc.stdout.splitlines() if line.startswith("DAGTEST")]
    print(f"dag.test() x2 on PostgreSQL, process total {elapsed:.1f}s: {timings}")
    assert len(timings) == 2

    runs = _query(postgres_url, "select state from dag_run where dag_id='pg_tiny'")
    assert [r[0] for r in runs] == ["success", "success"]
    tis = _query(
        postgres_url,
        "select task_id, state, count(*) from task_instance where dag_id='pg_tiny' group by 1, 2 order by 1",
    )
    assert tis == [("consume", "success", 2), ("produce", "success", 2)]
    xcoms = _query(postgres_url, "select count(*) from xcom where dag_id='pg_tiny' and key='return_value'")
    assert xcoms[0][0] == 4


def test_airflow_layer_suite_on_postgres(postgres_url: str) -> None:
    """Run the Airflow layer's ``dag.test()`` suite (``tests/unit/provider -m airflow``) again, on PostgreSQL.

    ``tests/unit/provider/conftest.py`` picks its metadata database from
    ``BULK_FETCH_TEST_SQL_ALCHEMY_CONN`` before Airflow is imported, so a child pytest with that
    variable set is the whole "sqlite + postgres" matrix:
    the parent session keeps SQLite, the child gets a fresh database on the throwaway server.
    """
    repo = Path(__file__).resolve().parents[2]
    url = create_database(postgres_url, "airflow_layer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "PYTEST_"))}
    env.pop("AIRFLOW_HOME", None)
    env["BULK_FETCH_TEST_SQL_ALCHEMY_CONN"] = url
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/unit/provider",
            "-m",
            "airflow",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--timeout=240",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    elapsed = time.monotonic() - started
    tail = proc.stdout[-6000:] + proc.stderr[-3000:]
    # 5 = no tests collected: a renamed marker or directory must not pass as "nothing to run"
    assert proc.returncode != 5, f"no tests marked 'airflow' collected under tests/unit/provider:\n{tail}"
    assert proc.returncode == 0, f"Airflow-layer suite failed on PostgreSQL ({elapsed:.0f}s):\n{tail}"
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    print(f"tests/unit/provider -m airflow on PostgreSQL: {summary} ({elapsed:.1f}s)")
    # the child really used PostgreSQL: its dag runs are in the database we created for it
    runs = _query(url, "select count(*) from dag_run")
    assert runs[0][0] > 0, "the child suite ran no dag.test() against PostgreSQL"
