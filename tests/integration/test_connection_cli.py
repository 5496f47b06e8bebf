"""``airflow connections test <id>``: the workaround for the UI's Test button on Airflow 3.3.2 (which
answers 400 for a connection without a port, apache/airflow PR 73298). A subprocess with the connection in
``AIRFLOW_CONN_*`` and ``[core] test_connection = Enabled``; the hook's ``test_connection()`` validates
every field before it sends anything (issue 14)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_bulk_uploader.testing import DemoAPI, running_demo_api
from tests.support.processes import airflow_cmd, airflow_env

pytestmark = pytest.mark.integration

TOKEN = "cli-Secret-Tok-77e1"


@pytest.fixture(scope="module")
def api() -> Iterator[DemoAPI]:
    with running_demo_api(token=TOKEN, auth="header") as demo:
        yield demo


def _test(tmp_path: Path, conn: dict, enabled: bool = True) -> subprocess.CompletedProcess[str]:
    settings = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled" if enabled else "Disabled"}
    env = airflow_env(tmp_path, f"sqlite:///{tmp_path / 'airflow.db'}", **settings)
    env["COLUMNS"] = "1000"  # the CLI prints through rich: no line wrapping inside the message
    env["AIRFLOW_CONN_MY_API"] = json.dumps({"conn_type": "bulk_fetch", "password": TOKEN, **conn})
    return subprocess.run(
        [*airflow_cmd(), "connections", "test", "my_api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_cli_test_passes_for_a_good_connection_and_reports_the_field_of_a_bad_one(api, tmp_path):
    good = _test(tmp_path, {"host": api.url, "extra": {"auth_type": "header", "test_path": "/items/1"}})
    assert good.returncode == 0, good.stdout[-2000:] + good.stderr[-2000:]
    assert "Connection success!" in good.stdout
    assert any(r.path == "/items/1" and r.headers.get("X-API-Key") == TOKEN for r in api.requests)

    sent_before = len(api.requests)
    bad = _test(tmp_path, {"host": api.url, "extra": {"rate_limit_requests": TOKEN, "timeout_seconds": 5}})
    out = bad.stdout + bad.stderr
    assert bad.returncode == 1, out[-2000:]
    assert "Connection failed!" in out and "'rate_limit_requests' must be a whole number" in out, out[-2000:]
    assert TOKEN not in out and TOKEN.lower() not in out
    assert len(api.requests) == sent_before  # validation failed before anything was sent

    typo = _test(tmp_path, {"host": api.url, "extra": {"rate_limt_requests": 5}})
    assert typo.returncode == 1 and "did you mean `rate_limit_requests`?" in typo.stdout + typo.stderr


def test_cli_test_needs_the_feature_enabled(api, tmp_path):
    disabled = _test(tmp_path, {"host": api.url}, enabled=False)
    assert disabled.returncode == 1 and "disabled" in (disabled.stdout + disabled.stderr).lower()
