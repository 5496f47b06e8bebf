"""Kill a real task process mid-way and check the next try resumes: SIGTERM (Airflow's task runner calls
``on_kill``: flush + checkpoint, then Airflow retries) and ``kill -9`` (no flush: only the units in flight and
in the unwritten buffer are fetched again). The demo API runs in this process and records every request.

* SIGTERM: a child process runs ``dag.test()`` of ``it_resume_sigterm`` (retries=1) on its own SQLite
  metadata database; the task runs in that process under Airflow's task runner, whose SIGTERM handler calls
  ``on_kill``. Airflow then retries the task in the same run: the retry resumes from the task state store.
* SIGTERM to ``airflow tasks test`` (same task runner, same ``_run_task`` as ``dag.test()``) of a dag run
  created with ``airflow dags trigger``: the task fails after flush + checkpoint; a second ``airflow tasks
  test`` of the same run resumes from the task state store (``tasks test`` keeps the try number: try 0).
* kill -9: a child process runs one try of the operator (``tests/support/resume_child.py``, progress journal
  next to the parts) and is SIGKILLed at ~50 %; a second child runs try 2.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulk_uploader.testing import running_demo_api
from tests.support.processes import airflow_cmd, airflow_env, stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "tests" / "unit" / "provider" / "dags" / "resume_test_dags.py"
TOKEN = "resume-token-4b3a2c1d"


def conn(url: str) -> str:
    return json.dumps(
        {"conn_type": "bulk_fetch", "host": url, "password": TOKEN, "extra": {"auth_type": "header"}}
    )


def served(api: Any, start: int = 0, end: int | None = None) -> list[Any]:
    return [r for r in api.requests[start:end] if r.route == "/items/{id}"]


def read_output(root: Path) -> tuple[Path, dict[str, Any], dict[int, list[int]]]:
    """The manifest under ``root`` and the record ids of each try (from the parts it lists)."""
    (path,) = root.rglob("manifest.json")
    manifest = json.loads(path.read_text())
    by_try: dict[int, list[int]] = {}
    for part in manifest["parts"]:
        lines = gzip.decompress((path.parent / part["path"]).read_bytes()).decode().splitlines()
        by_try.setdefault(part.get("try", 0), []).extend(json.loads(line)["id"] for line in lines)
    return path.parent, manifest, by_try


def wait_for(condition: Any, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the child exited early ({proc.returncode}): {proc.stdout.read()[-3000:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the child")
        time.sleep(0.05)


DAG_TEST = textwrap.dedent(
    """
    import json, sys
    from airflow.utils import db
    db.initdb()
    from airflow.dag_processing.dagbag import DagBag
    dag = DagBag(dag_folder=sys.argv[1]).dags["it_resume_sigterm"]
    print("READY", flush=True)
    dag_run = dag.test(run_conf={"store": sys.argv[2]})
    tis = [(ti.state, ti.try_number) for ti in dag_run.get_task_instances()]
    print("RESULT " + json.dumps({"state": dag_run.state, "tis": tis}), flush=True)
    """
)


def test_sigterm_flushes_checkpoints_and_the_retry_resumes(tmp_path):
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(DAGS, home / "dags" / DAGS.name)
    script = tmp_path / "dag_test.py"
    script.write_text(DAG_TEST)
    out = tmp_path / "out"
    with running_demo_api(token=TOKEN) as api:
        env = airflow_env(home, f"sqlite:///{home / 'airflow.db'}")
        env["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = conn(api.url)
        env["PYTHONPATH"] = str(REPO)
        proc = subprocess.Popen(
            [sys.executable, str(script), str(home / "dags"), f"file://{out}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            wait_for(lambda: len(served(api)) >= 100, 180, proc)  # 300 ids at 40/s: ~1/3 done
            os.kill(proc.pid, signal.SIGTERM)  # the process running the task, not a thread calling on_kill
            killed_at = len(api.requests)
            output, _ = proc.communicate(timeout=180)
        finally:
            stop_process_group(proc)
        requests = served(api)
    assert proc.returncode == 0, output[-4000:]
    result = json.loads(output.split("RESULT ", 1)[1].splitlines()[0])
    assert result == {"state": "success", "tis": [["success", 2]]}, "SIGTERM failed try 1; Airflow retried"
    assert "units are stored and recorded in the task state store" in output, "flush + checkpoint on SIGTERM"
    assert "resuming from try 1" in output

    _, manifest, by_try = read_output(out)
    stored_by_try_1 = set(by_try[1])
    assert manifest["resumed_from_try"] == 1 and manifest["units_skipped"] == len(stored_by_try_1)
    assert len(stored_by_try_1) >= 80, "what try 1 fetched before the signal was flushed, not lost"
    assert sorted(by_try[1] + by_try[2]) == list(range(300)), "every unit exactly once"
    counts = Counter(int(r.path.rsplit("/", 1)[1]) for r in requests if r.status == 200)
    assert all(counts[i] == 1 for i in stored_by_try_1), "0 requests for units stored before the signal"
    twice = [i for i, n in counts.items() if n > 1]
    assert len(twice) <= 4, f"only requests in flight at the signal are sent again: {twice}"
    later = {int(r.path.rsplit("/", 1)[1]) for r in requests[killed_at:]}
    assert not later & stored_by_try_1


def test_sigterm_to_airflow_tasks_test_and_the_next_run_resumes(tmp_path):
    home = tmp_path / "home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(DAGS, home / "dags" / DAGS.name)
    out = tmp_path / "out"
    env = airflow_env(home, f"sqlite:///{home / 'airflow.db'}")
    env["PYTHONPATH"] = str(REPO)
    airflow = airflow_cmd()
    for args in (
        ["db", "migrate"],
        ["dags", "reserialize"],
        [
            "dags",
            "trigger",
            "it_resume_sigterm",
            "-r",
            "resume_run",
            "--conf",
            json.dumps({"store": f"file://{out}"}),
        ],
    ):
        done = subprocess.run(airflow + args, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    task_test = [*airflow, "tasks", "test", "it_resume_sigterm", "fetch", "resume_run"]
    with running_demo_api(token=TOKEN) as api:
        env["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = conn(api.url)
        proc = subprocess.Popen(
            task_test,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            wait_for(lambda: len(served(api)) >= 100, 180, proc)
            os.kill(proc.pid, signal.SIGTERM)
            first, _ = proc.communicate(timeout=120)
        finally:
            stop_process_group(proc)
        killed_at = len(api.requests)
        second = subprocess.run(task_test, env=env, capture_output=True, text=True, timeout=180)
        requests = served(api)
    assert "units are stored and recorded in the task state store" in first, first[-3000:]
    assert "resuming from try" in second.stdout + second.stderr, (second.stdout + second.stderr)[-3000:]
    _, manifest, by_try = read_output(out)
    records = sorted(i for ids in by_try.values() for i in ids)
    assert records == list(range(300)) and manifest["units_skipped"] >= 80
    stored_first = manifest["units_skipped"]
    counts = Counter(int(r.path.rsplit("/", 1)[1]) for r in requests if r.status == 200)
    assert sum(1 for n in counts.values() if n > 1) <= 4, "only requests in flight at the signal again"
    assert len(served(api, killed_at)) <= 300 - stored_first + 4


def test_kill_9_loses_only_in_flight_and_unwritten_units(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = f"file://{tmp_path / 'out'}"
    spec = {
        "store": store,
        "ids": 400,
        "records_per_part": 20,
        "rate_limit_requests": 100,
        "max_concurrency": 4,
    }
    with running_demo_api(token=TOKEN) as api:
        env = airflow_env(home, f"sqlite:///{home / 'airflow.db'}")
        env["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = conn(api.url)

        def child(try_number: int) -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.support.resume_child", json.dumps({**spec, "try": try_number})],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )

        first = child(1)
        try:
            wait_for(lambda: len(served(api)) >= 200, 120, first)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            stop_process_group(first)
        died_at = len(api.requests)
        (journal_path,) = (tmp_path / "out").rglob("_progress.json")
        journal = json.loads(journal_path.read_text())
        stored = {u for p in journal["parts"] for a, b in p["units"] for u in range(a, b + 1)}
        first_requests = served(api, 0, died_at)

        second = child(2)
        try:
            output, _ = second.communicate(timeout=120)
        finally:
            stop_process_group(second)
        second_requests = served(api, died_at)
    assert second.returncode == 0, output[-3000:]
    summary = json.loads(output.split("SUMMARY ", 1)[1].splitlines()[0])
    assert summary["resumed_from_try"] == 1 and summary["units_skipped"] == len(stored) > 0

    ids_2 = [int(r.path.rsplit("/", 1)[1]) for r in second_requests]
    assert not set(ids_2) & stored, "0 requests for units the checkpoint holds"
    assert sorted(ids_2) == sorted(set(range(400)) - stored), "try 2 fetches exactly the rest, once each"
    ok_1 = {int(r.path.rsplit("/", 1)[1]) for r in first_requests if r.status == 200}
    lost = ok_1 - stored  # served to try 1 but never stored: in flight, batched, or in the part buffer
    # bound: in flight (4) + the engine's batch (< 100) + the store's unwritten part (< 20)
    assert len(lost) < 4 + 100 + 20, len(lost)
    _, manifest, by_try = read_output(tmp_path / "out")
    assert sorted(by_try[1] + by_try[2]) == list(range(400)), "the final manifest holds every unit once"
    assert manifest["records"] == 400
