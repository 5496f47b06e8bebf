"""Airflow metrics for a bulk fetch: :class:`StatsObserver` turns the engine's
:class:`~airflow_provider_bulk_uploader.engine.observe.RunObserver` callbacks into Airflow ``Stats`` metrics.

Through Airflow's own ``Stats`` — StatsD, Datadog's DogStatsD or OpenTelemetry, whatever the deployment
configured in ``[metrics]`` (nothing is sent when it configured none) — never a client of our own. Names
start with :data:`~airflow_provider_bulk_uploader.engine.defaults.METRICS_PREFIX` (``bulk_fetch.``), under
Airflow's ``statsd_prefix``/``otel_prefix``. Every metric carries the tags ``conn_id``, ``dag_id``,
``task_id`` and, for a shared budget, ``rate_limit_key``; Airflow sends them where its tagging is on
(DogStatsD tags, OpenTelemetry attributes, InfluxDB-style name tags with ``statsd_influxdb_enabled``) and
drops them for plain StatsD.

Cost (measured in ``benchmarks/throughput.py``, row ``engine+metrics``): per request a few counter
increments in memory; the counters go to ``Stats`` every :data:`~..engine.defaults.METRICS_FLUSH_SECONDS`
(checked on the request path, no thread) and at the end of the run; latencies are a uniform sample of at
most :data:`~..engine.defaults.METRICS_LATENCY_SAMPLES` requests per flush (reservoir sampling), so the
metrics' share of a request's CPU does not grow with the request rate.

The names, types and meanings are in ``docs/observability.md`` (and :data:`METRIC_NAMES`): ``requests``
(tag ``method``), ``responses.<class>``, ``transport_errors``, ``rejections`` (tag ``status``), ``retries``,
``failures``, ``records``, ``bytes`` (counters); ``request_seconds`` (a sampled timer: the backend's unit,
milliseconds for StatsD); ``budget_wait_seconds`` and ``effective_rate`` (gauges; the latter only from a
limiter that adapts, :class:`~airflow_provider_bulk_uploader.engine.ratelimit.AdaptiveLimiter`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.ratelimit import AdaptiveLimiter
from airflow_provider_bulk_uploader.engine.report import FetchReport

__all__ = ["METRIC_NAMES", "StatsObserver", "airflow_stats", "metric_tags"]

log = logging.getLogger(__name__)

P = defaults.METRICS_PREFIX
#: every name this module emits (the documented table), ``responses.<class>`` once per class
METRIC_NAMES = (
    f"{P}.requests",
    *(f"{P}.responses.{c}" for c in ("1xx", "2xx", "3xx", "4xx", "5xx")),
    f"{P}.transport_errors",
    f"{P}.rejections",
    f"{P}.retries",
    f"{P}.failures",
    f"{P}.records",
    f"{P}.bytes",
    f"{P}.request_seconds",
    f"{P}.budget_wait_seconds",
    f"{P}.effective_rate",
)


def airflow_stats() -> Any:
    """Airflow's ``Stats`` (3.3: ``airflow.sdk.observability.stats``; the deprecated ``airflow.stats`` path
    re-exports the same object), configured by Airflow itself from ``[metrics]``."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # pragma: no cover - an SDK without the module
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from airflow.stats import Stats
    return Stats


def metric_tags(
    *, conn_id: str, dag_id: str | None, task_id: str | None, rate_limit_key: str | None = None
) -> dict[str, str]:
    """The tags of one task's metrics (``None`` values left out: InfluxDB-style tags would say "None")."""
    tags = {"conn_id": conn_id, "dag_id": dag_id, "task_id": task_id, "rate_limit_key": rate_limit_key}
    return {k: str(v) for k, v in tags.items() if v is not None and v != ""}


class StatsObserver:
    """A :class:`~airflow_provider_bulk_uploader.engine.observe.RunObserver` that sends a run's figures to
    Airflow's ``Stats`` (see the module's table). Never raises: a metrics backend that fails is logged once
    and the fetch goes on.

    :param tags: the tags of every metric (:func:`metric_tags`).
    :param stats: the ``Stats`` to send to (default: :func:`airflow_stats`).
    :param flush_seconds: seconds between two sends of the counters (default
        :data:`~..engine.defaults.METRICS_FLUSH_SECONDS`); also at the end of the run and on :meth:`flush`.
    :param latency_samples: request latencies sent per flush at most (default
        :data:`~..engine.defaults.METRICS_LATENCY_SAMPLES`).
    :param clock: monotonic seconds (tests).
    """

    def __init__(
        self,
        tags: Mapping[str, str],
        *,
        stats: Any = None,
        flush_seconds: float = defaults.METRICS_FLUSH_SECONDS,
        latency_samples: int = defaults.METRICS_LATENCY_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not flush_seconds > 0:
            raise ValueError(f"flush_seconds must be > 0, got {flush_seconds!r}")
        if isinstance(latency_samples, bool) or not isinstance(latency_samples, int) or latency_samples < 0:
            raise ValueError(f"latency_samples must be a whole number >= 0, got {latency_samples!r}")
        self.tags = dict(tags)
        self._stats = stats
        self.flush_seconds = float(flush_seconds)
        self.latency_samples = latency_samples
        self._clock = clock
        self._next_flush = clock() + self.flush_seconds
        self._lock = threading.Lock()  # on_records may come from a store's writer thread
        self._limiter: Any = None
        self._failed = False
        self._reset()

    def _reset(self) -> None:
        self._methods: dict[str, int] = {}
        self._classes: dict[str, int] = {}
        self._rejections: dict[int, int] = {}
        self._retries = 0
        self._waited = 0.0
        self._waits = 0
        self._seen = 0  # requests since the last flush (the reservoir's population)
        self._latencies: list[float] = []
        with self._lock:
            self._records = 0
            self._bytes = 0

    # -- RunObserver ------------------------------------------------------------------------------------

    def on_start(self, limiter: Any) -> None:
        self._limiter = limiter
        self._next_flush = self._clock() + self.flush_seconds

    def on_wait(self, seconds: float) -> None:
        self._waited += seconds
        self._waits += 1

    def on_request(self, method: str, status_class: str, seconds: float) -> None:
        methods, classes = self._methods, self._classes
        methods[method] = methods.get(method, 0) + 1
        classes[status_class] = classes.get(status_class, 0) + 1
        seen = self._seen = self._seen + 1
        keep = self.latency_samples
        if seen <= keep:
            self._latencies.append(seconds)
        else:
            slot = int(random.random() * seen)  # Algorithm R: each request kept with probability keep/seen
            if slot < keep:
                self._latencies[slot] = seconds
        if self._clock() >= self._next_flush:
            self.flush()

    def on_rejection(self, status: int) -> None:
        self._rejections[status] = self._rejections.get(status, 0) + 1

    def on_retry(self) -> None:
        self._retries += 1

    def on_records(self, records: int, nbytes: int) -> None:
        with self._lock:
            self._records += records
            self._bytes += nbytes

    def on_finish(self, report: FetchReport) -> None:
        self.flush()
        if report.failed:
            self._send("incr", f"{P}.failures", report.failed)

    # -- sending ----------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send what was counted since the last flush (counters that moved, the sampled latencies, the
        gauges) and start counting afresh."""
        self._next_flush = self._clock() + self.flush_seconds
        methods, classes, rejections = self._methods, self._classes, self._rejections
        retries, latencies, waited, waits = self._retries, self._latencies, self._waited, self._waits
        with self._lock:
            records, nbytes = self._records, self._bytes
        self._reset()
        for method, n in methods.items():
            self._send("incr", f"{P}.requests", n, method=method)
        for cls, n in classes.items():
            self._send("incr", f"{P}.transport_errors" if cls == "error" else f"{P}.responses.{cls}", n)
        for status, n in rejections.items():
            self._send("incr", f"{P}.rejections", n, status=str(status))
        if retries:
            self._send("incr", f"{P}.retries", retries)
        if records:
            self._send("incr", f"{P}.records", records)
        if nbytes:
            self._send("incr", f"{P}.bytes", nbytes)
        for seconds in latencies:
            self._send("timing", f"{P}.request_seconds", timedelta(seconds=seconds))
        if waits:
            self._send("gauge", f"{P}.budget_wait_seconds", waited / waits)
        if isinstance(self._limiter, AdaptiveLimiter):  # the pace after adaptation (issue 19)
            self._send("gauge", f"{P}.effective_rate", float(self._limiter.effective_rate))

    def _send(self, kind: str, name: str, value: Any, **extra: str) -> None:
        if self._failed:
            return
        tags = {**self.tags, **extra} if extra else self.tags
        try:
            stats = self._stats if self._stats is not None else airflow_stats()
            if kind == "incr":
                stats.incr(name, value, tags=tags)
            elif kind == "gauge":
                stats.gauge(name, value, tags=tags)
            else:
                stats.timing(name, value, tags=tags)
        except Exception as exc:  # metrics must never fail a fetch
            self._failed = True
            log.warning("bulk fetch metrics disabled for this task: Stats.%s failed: %s", kind, exc)
