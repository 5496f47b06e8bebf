"""Metrics end to end: ``airflow dags test`` (``dag.test()``) with Airflow's own StatsD client (``[metrics]
statsd_on``, ``statsd_influxdb_enabled`` so the tags travel in the names) pointed at a UDP socket on
loopback that this test reads, against the demo API injecting 429s. What arrives adds up to the run's
report (manifest), to what the server saw and to what is on disk.

Airflow configures ``Stats`` from ``[metrics]`` when its SDK is imported, so the run is a child process with
the settings in its environment (like the OpenLineage test in test_lineage.py). Cost: ~15-25 s.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.provider.conftest import TOKEN, conn_json

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

PREFIX = "airflow"
# one StatsD line: <prefix>.<name>[,tag=value...]:<value>|<type>[|@rate]
LINE = re.compile(r"^(?P<name>[^,:]+)(?P<tags>(?:,[^,=:]+=[^,:]*)*):(?P<value>[^|]+)\|(?P<type>c|g|ms)")


class StatsdListener:
    """A UDP socket on 127.0.0.1 and a thread that keeps every datagram's lines."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="statsd-listener", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.lines.extend(data.decode(errors="replace").splitlines())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def statsd() -> Iterator[StatsdListener]:
    listener = StatsdListener()
    try:
        yield listener
    finally:
        listener.close()


def parse(lines: list[str]) -> list[tuple[str, dict[str, str], float, str]]:
    """``(name without the prefix, tags, value, type)`` of every ``bulk_fetch.*`` line."""
    out = []
    for line in lines:
        m = LINE.match(line)
        if not m or not m["name"].startswith(f"{PREFIX}.bulk_fetch."):
            continue
        tags = dict(t.split("=", 1) for t in m["tags"].split(",") if t)
        out.append((m["name"][len(PREFIX) + 1 :], tags, float(m["value"]), m["type"]))
    return out


def test_counters_add_up_to_the_report_and_the_server(airflow_db, statsd, tmp_path) -> None:
    from airflow_provider_bulk_uploader.testing import running_demo_api

    store = tmp_path / "data"
    with running_demo_api(
        token=TOKEN, auth="header", fault_429_rate=0.2, fault_retry_after=0, seed=11
    ) as api:
        _dags_test(api, statsd, {"store": f"file://{store}"})
        seen = api.stats
    (directory,) = store.iterdir()
    manifest = json.loads((directory / "manifest.json").read_text())
    report = manifest["report"]
    assert report["succeeded"] == 60 and manifest["records"] == 60

    metrics = parse(statsd.lines)
    assert metrics, f"no bulk_fetch metric among {len(statsd.lines)} lines: {statsd.lines[:20]}"
    totals: dict[str, float] = defaultdict(float)
    by_type: dict[str, set[str]] = defaultdict(set)
    for name, tags, value, kind in metrics:
        assert tags["conn_id"] == "bulk_fetch_default", (name, tags)
        assert tags["dag_id"] == "it_metrics" and tags["task_id"] == "fetch", (name, tags)
        assert "rate_limit_key" not in tags  # task scope: no shared budget
        assert TOKEN not in name
        by_type[name].add(kind)
        if kind == "c":
            totals[name] += value
    assert TOKEN not in "\n".join(statsd.lines)

    # requests: the report's attempts, every one of which the server saw
    assert totals["bulk_fetch.requests"] == report["attempts"] == seen.total
    # the injected 429s, as rejections and as 4xx responses
    assert seen.by_status[429] > 3
    assert totals["bulk_fetch.rejections"] == seen.by_status[429]
    assert totals["bulk_fetch.responses.4xx"] == seen.by_status[429]
    assert totals["bulk_fetch.responses.2xx"] == seen.by_status[200] == 60
    assert totals["bulk_fetch.retries"] == report["attempts"] - report["requested"]
    # records and bytes: what is on disk
    parts = sorted(directory.glob("part-*.jsonl.gz"))
    assert len(parts) == 3
    assert totals["bulk_fetch.records"] == manifest["records"] == 60
    assert totals["bulk_fetch.bytes"] == sum(p.stat().st_size for p in parts)
    assert "bulk_fetch.failures" not in totals  # nothing failed for good
    # the sampled latency timer and the budget gauge
    assert by_type["bulk_fetch.request_seconds"] == {"ms"}
    timings = [v for n, _, v, _ in metrics if n == "bulk_fetch.request_seconds"]
    assert 0 < len(timings) <= report["attempts"] and all(0 <= v < 10_000 for v in timings)
    assert by_type["bulk_fetch.budget_wait_seconds"] == {"g"}
    # the effective rate: only from a limiter that adapts (issue 19), never above the declared 500/s
    rates = [v for n, _, v, _ in metrics if n == "bulk_fetch.effective_rate"]
    assert all(0 < v <= 500 for v in rates)
    rejections = {t.get("status") for n, t, _, _ in metrics if n == "bulk_fetch.rejections"}
    assert rejections == {"429"}
    methods = {t.get("method") for n, t, _, _ in metrics if n == "bulk_fetch.requests"}
    assert methods == {"GET"}


def _dags_test(api: Any, statsd: StatsdListener, conf: dict[str, Any]) -> None:
    """``airflow dags test it_metrics`` against ``api`` with StatsD sent to ``statsd``."""
    env = {
        **os.environ,
        "AIRFLOW_CONN_BULK_FETCH_DEFAULT": conn_json(api.url, rate_limit_requests=500),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": PREFIX,
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    result = subprocess.run(
        [airflow, "dags", "test", "it_metrics", "--conf", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_records_kept_in_xcom_are_counted_once_pushed(airflow_db, statsd) -> None:
    """The XCom store keeps its records until the operator pushes them: counted then, with their size."""
    from airflow_provider_bulk_uploader.testing import running_demo_api

    with running_demo_api(token=TOKEN, auth="header") as api:
        _dags_test(api, statsd, {"store": "xcom"})
    totals: dict[str, float] = defaultdict(float)
    for name, _tags, value, kind in parse(statsd.lines):
        if kind == "c":
            totals[name] += value
    assert totals["bulk_fetch.requests"] == 60
    assert totals["bulk_fetch.records"] == 60
    assert totals["bulk_fetch.bytes"] > 60 * len('{"id":1}')  # compact JSON of the 60 records
