"""utils/metrics.py: what StatsObserver sends to a Stats object (a recording one here; the real StatsD path
is tests/unit/provider/test_metrics_statsd.py): counters sent when they moved and reset after a flush, a
flush every ``flush_seconds`` on the request path, latencies a bounded sample, gauges, tags, and a backend
that fails never failing the fetch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_bulk_uploader.engine.observe import RunObserver
from airflow_provider_bulk_uploader.engine.report import FetchReport
from airflow_provider_bulk_uploader.utils.metrics import METRIC_NAMES, StatsObserver, metric_tags

TAGS = metric_tags(conn_id="api", dag_id="d", task_id="t", rate_limit_key=None)


class Recording:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any, dict[str, str]]] = []

    def incr(self, name: str, count: int, *, tags: dict[str, str]) -> None:
        self.sent.append(("incr", name, count, tags))

    def gauge(self, name: str, value: float, *, tags: dict[str, str]) -> None:
        self.sent.append(("gauge", name, value, tags))

    def timing(self, name: str, dt: timedelta, *, tags: dict[str, str]) -> None:
        self.sent.append(("timing", name, dt, tags))

    def of(self, kind: str, name: str) -> list[Any]:
        return [v for k, n, v, _ in self.sent if k == kind and n == name]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tags_leave_out_what_is_not_set() -> None:
    assert TAGS == {"conn_id": "api", "dag_id": "d", "task_id": "t"}
    assert metric_tags(conn_id="api", dag_id=None, task_id="t", rate_limit_key="vendor") == {
        "conn_id": "api",
        "task_id": "t",
        "rate_limit_key": "vendor",
    }
    assert all(name.startswith("bulk_fetch.") for name in METRIC_NAMES)
    assert isinstance(StatsObserver(TAGS, stats=Recording()), RunObserver)


def test_counters_flush_on_time_and_at_the_end() -> None:
    stats, clock = Recording(), Clock()
    obs = StatsObserver(TAGS, stats=stats, flush_seconds=5, latency_samples=3, clock=clock)
    obs.on_start(None)
    for i in range(10):
        obs.on_wait(0.5)
        obs.on_request("GET", "2xx" if i % 5 else "4xx", 0.01 * i)
    obs.on_rejection(429)
    obs.on_rejection(429)
    obs.on_retry()
    obs.on_records(7, 700)
    assert stats.sent == []  # nothing before the interval is over
    clock.now = 5.0
    obs.on_request("POST", "error", 2.0)  # the request that crosses the interval flushes
    assert sum(stats.of("incr", "bulk_fetch.requests")) == 11
    assert [(v, t["method"]) for k, n, v, t in stats.sent if n == "bulk_fetch.requests"] == [
        (10, "GET"),
        (1, "POST"),
    ]
    assert stats.of("incr", "bulk_fetch.responses.2xx") == [8]
    assert stats.of("incr", "bulk_fetch.responses.4xx") == [2]
    assert stats.of("incr", "bulk_fetch.transport_errors") == [1]
    assert [(v, t["status"]) for k, n, v, t in stats.sent if n == "bulk_fetch.rejections"] == [(2, "429")]
    assert stats.of("incr", "bulk_fetch.retries") == [1]
    assert stats.of("incr", "bulk_fetch.records") == [7] and stats.of("incr", "bulk_fetch.bytes") == [700]
    assert len(stats.of("timing", "bulk_fetch.request_seconds")) == 3  # the sample's bound
    assert all(isinstance(v, timedelta) for v in stats.of("timing", "bulk_fetch.request_seconds"))
    assert stats.of("gauge", "bulk_fetch.budget_wait_seconds") == [0.5]
    assert stats.of("gauge", "bulk_fetch.effective_rate") == []  # no limiter exposes one
    assert all(t["conn_id"] == "api" and t["task_id"] == "t" for *_, t in stats.sent)

    stats.sent.clear()
    obs.on_request("GET", "2xx", 0.1)
    report = FetchReport(requested=12, succeeded=11, failed=1, attempts=12)
    obs.on_finish(report)  # counted since the last flush only, and the failures from the report
    assert stats.of("incr", "bulk_fetch.requests") == [1]
    assert stats.of("incr", "bulk_fetch.failures") == [1]
    assert stats.of("gauge", "bulk_fetch.budget_wait_seconds") == []  # no request waited since
    stats.sent.clear()
    obs.flush()
    assert stats.sent == []  # nothing moved: nothing sent


def test_latency_sample_is_uniform_and_bounded() -> None:
    stats = Recording()
    obs = StatsObserver(TAGS, stats=stats, flush_seconds=3600, latency_samples=50, clock=Clock())
    for i in range(10_000):
        obs.on_request("GET", "2xx", i / 10_000)
    obs.flush()
    sample = [dt.total_seconds() for dt in stats.of("timing", "bulk_fetch.request_seconds")]
    assert len(sample) == 50
    assert 0.3 < sum(sample) / len(sample) < 0.7  # from the whole interval, not its first requests


def test_effective_rate_is_read_from_a_limiter_that_adapts() -> None:
    from datetime import timedelta

    from airflow_provider_bulk_uploader import Ratelimit
    from airflow_provider_bulk_uploader.engine.ratelimit import new_limiter

    stats = Recording()
    obs = StatsObserver(TAGS, stats=stats, clock=Clock())
    obs.on_start(new_limiter(Ratelimit(25, timedelta(seconds=2))))  # paces at 12.5/s until it adapts
    obs.flush()
    assert stats.of("gauge", "bulk_fetch.effective_rate") == [12.5]
    quiet = Recording()
    obs = StatsObserver(TAGS, stats=quiet, clock=Clock())
    obs.on_start(object())  # a limiter that does not adapt (or none): no gauge
    obs.flush()
    assert quiet.of("gauge", "bulk_fetch.effective_rate") == []


def test_a_failing_backend_is_logged_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recording):
        def incr(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("no route to host")

    obs = StatsObserver(TAGS, stats=Broken(), clock=Clock())
    for _ in range(3):
        obs.on_request("GET", "2xx", 0.1)
        obs.flush()
    assert sum("metrics disabled" in r.getMessage() for r in caplog.records) == 1


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="flush_seconds must be > 0, got 0"):
        StatsObserver(TAGS, flush_seconds=0)
    with pytest.raises(ValueError, match="latency_samples must be a whole number >= 0, got -1"):
        StatsObserver(TAGS, latency_samples=-1)
