"""A real Celery deployment: PostgreSQL + Redis + ``airflow api-server`` + scheduler + dag-processor + two
``airflow celery worker`` processes run a mapped ``BulkFetchOperator`` (8 instances) against the demo API.

With ``rate_limit_scope=shared`` the demo API's log shows the connection's quota held across all instances
and workers; with ``task`` scope (today's behaviour) the same DAG exceeds it — the trap, measured. Every
record lands exactly once (read back from the file store).

Tasks reach the metadata database only through the API server (``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``);
the test reads run states from PostgreSQL directly. Cost: ~2-4 min on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulk_uploader.testing import DemoAPI, max_in_window, running_demo_api
from tests.support.postgres import create_database, free_port, postgres_url_or_skip
from tests.support.processes import airflow_env, stop_process_group
from tests.support.redis import RedisServer, redis_or_skip

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(600)]

N, PERIOD, INSTANCES, IDS_PER_INSTANCE = 20, 1.0, 8, 30
TOKEN = "celery-test-token-3b2a1f"
START_TIMEOUT = 180.0
RUN_TIMEOUT = 240.0

DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

for scope in ("shared", "task"):
    with DAG(dag_id=f"quota_{scope}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
        BulkFetchOperator.partial(
            task_id="fetch",
            endpoint="/items/{id}",
            bulk_fetch_conn_id=f"api_{scope}",
            store=f"file://{OUT}/{scope}",
            compression="none",
        ).expand(ids=[{"start": i * IDS, "end": (i + 1) * IDS} for i in range(INSTANCES)])
"""


def _airflow() -> list[str]:
    exe = Path(sys.executable).with_name("airflow")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "airflow"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("airflow_celery")
    out = home / "out"
    (home / "dags").mkdir()
    (home / "dags" / "quota_dags.py").write_text(
        f"OUT = {str(out)!r}\nIDS = {IDS_PER_INSTANCE}\nINSTANCES = {INSTANCES}\n" + textwrap.dedent(DAG_FILE)
    )
    with contextlib.ExitStack() as stack:
        base_url = stack.enter_context(postgres_url_or_skip())
        db_url = create_database(base_url, "airflow_celery")
        redis: RedisServer = stack.enter_context(redis_or_skip())
        api: DemoAPI = stack.enter_context(running_demo_api(token=TOKEN, auth="header"))
        api_port = free_port()
        conn = {
            "conn_type": "bulk_fetch",
            "host": api.url,
            "password": TOKEN,
            "extra": {"auth_type": "header", "rate_limit_requests": N, "rate_limit_period_seconds": PERIOD},
        }
        shared = {**conn, "extra": {**conn["extra"], "rate_limit_scope": "shared", "redis_conn_id": "limits"}}
        env = airflow_env(
            home,
            db_url,
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis.port}/0",
            AIRFLOW__CELERY__RESULT_BACKEND="db+" + db_url,
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
            AIRFLOW__API_AUTH__JWT_SECRET="celery-test-jwt-secret",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            AIRFLOW_CONN_API_SHARED=json.dumps(shared),
            AIRFLOW_CONN_API_TASK=json.dumps(conn),
            AIRFLOW_CONN_LIMITS=json.dumps(
                {"conn_type": "redis", "host": "127.0.0.1", "port": redis.port, "extra": {"db": 1}}
            ),
        )
        migrate = subprocess.run(
            [*_airflow(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

        procs: list[tuple[str, subprocess.Popen[bytes]]] = []

        def start(name: str, *args: str, **extra_env: str) -> None:
            log = (home / f"{name}.log").open("wb")
            proc = subprocess.Popen(
                [*_airflow(), *args],
                env={**env, **extra_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            procs.append((name, proc))
            stack.callback(stop_process_group, proc, 20)

        start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1")
        start("scheduler", "scheduler")
        start("dag-processor", "dag-processor")
        for i in (1, 2):
            start(
                f"worker{i}",
                "celery",
                "worker",
                "--concurrency",
                "4",
                "--celery-hostname",
                f"worker{i}@%h",
                AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    pytest.fail(
                        f"{name} exited {proc.returncode}:\n{(home / f'{name}.log').read_text()[-4000:]}"
                    )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=2) as r,
            ):
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail("api-server not healthy:\n" + (home / "api-server.log").read_text()[-4000:])
            time.sleep(1)
        yield {"env": env, "db_url": db_url, "api": api, "out": out, "home": home, "redis": redis}


def _run_state(db_url: str, dag_id: str) -> tuple[str | None, dict[str, int]]:
    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as conn:
            run = conn.execute(
                sqlalchemy.text("select state from dag_run where dag_id = :d"), {"d": dag_id}
            ).first()
            states = dict(
                conn.execute(
                    sqlalchemy.text(
                        "select coalesce(state, 'none'), count(*) from task_instance "
                        "where dag_id = :d group by 1"
                    ),
                    {"d": dag_id},
                ).all()
            )
    finally:
        engine.dispose()
    return (run[0] if run else None), states


def _trigger_and_wait(dep: dict[str, Any], dag_id: str) -> list[float]:
    api: DemoAPI = dep["api"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:  # the dag-processor must have parsed the file first
        proc = subprocess.run(
            [*_airflow(), "dags", "trigger", dag_id],
            env=dep["env"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"cannot trigger {dag_id}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        time.sleep(3)
    while True:
        state, tis = _run_state(dep["db_url"], dag_id)
        if state in ("success", "failed"):
            break
        if time.monotonic() > deadline:
            logs = "\n".join(
                f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(dep["home"].glob("*.log"))
            )
            pytest.fail(f"{dag_id} still {state} {tis} after {RUN_TIMEOUT:.0f}s\n{logs}")
        time.sleep(2)
    assert state == "success", (state, tis)
    return sorted(r.arrival for r in api.requests if r.path.startswith("/items/"))


def _landed(out: Path) -> list[int]:
    ids = []
    for part in sorted(out.rglob("part-*.jsonl*")):
        data = part.read_bytes()
        if part.suffix == ".gz":
            data = gzip.decompress(data)
        ids += [json.loads(line)["id"] for line in data.decode().splitlines() if line]
    return ids


def test_shared_scope_holds_the_quota_across_celery_workers_and_task_scope_does_not(deployment):
    api: DemoAPI = deployment["api"]
    total = INSTANCES * IDS_PER_INSTANCE
    api.reset()
    shared = _trigger_and_wait(deployment, "quota_shared")
    shared_max = max_in_window(shared, PERIOD)
    assert len(shared) == total
    assert sorted(_landed(deployment["out"] / "shared")) == list(range(total))  # every record, once
    assert shared_max <= N, f"shared scope put {shared_max} requests in one {PERIOD:g} s window (quota {N})"

    api.reset()
    task = _trigger_and_wait(deployment, "quota_task")
    task_max = max_in_window(task, PERIOD)
    assert sorted(_landed(deployment["out"] / "task")) == list(range(total))
    print(
        f"max arrivals in any {PERIOD:g} s window, quota {N}: shared scope {shared_max}, "
        f"task scope {task_max} ({task_max / N:.1f}x); shared run {shared[-1] - shared[0]:.1f} s, "
        f"task run {task[-1] - task[0]:.1f} s"
    )
    assert task_max > N  # the trap this issue removes: K instances x the per-task rate
