"""engine/observe.py and the calls the run makes to a :class:`RunObserver`: against the real demo API with
injected 429s and 503s, the observer's counts add up to the report and to what the server saw; a run
without one makes no call; a spec refuses an object that is not an observer."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_bulk_uploader import FetchSpec, ListStore, Ratelimit, UploadedData
from airflow_provider_bulk_uploader.engine.observe import (
    STATUS_CLASSES,
    NullObserver,
    RunObserver,
    status_class,
)
from tests.support.retry import fast_policy

pytestmark = pytest.mark.integration


class Recorder(NullObserver):
    """Every call, in order, and counters (the calls come from the loop thread only here)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.classes: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.rejections: Counter[int] = Counter()
        self.waits: list[float] = []
        self.seconds: list[float] = []
        self.started_with: list[Any] = []
        self.finished_with: list[Any] = []
        self.threads: set[int] = set()

    def on_start(self, limiter: Any) -> None:
        self.calls["start"] += 1
        self.started_with.append(limiter)

    def on_wait(self, seconds: float) -> None:
        self.calls["wait"] += 1
        self.waits.append(seconds)

    def on_request(self, method: str, status_class: str, seconds: float) -> None:
        self.calls["request"] += 1
        self.threads.add(threading.get_ident())
        self.methods[method] += 1
        self.classes[status_class] += 1
        self.seconds.append(seconds)

    def on_rejection(self, status: int) -> None:
        self.calls["rejection"] += 1
        self.rejections[status] += 1

    def on_retry(self) -> None:
        self.calls["retry"] += 1

    def on_finish(self, report: Any) -> None:
        self.calls["finish"] += 1
        self.finished_with.append(report)


def test_status_classes() -> None:
    assert [status_class(s) for s in (101, 200, 204, 301, 404, 429, 503, None, 0, 700)] == [
        "1xx", "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "error", "error", "error",
    ]  # fmt: skip
    assert set(STATUS_CLASSES) == {status_class(s) for s in (100, 200, 300, 400, 500, None)}
    assert isinstance(NullObserver(), RunObserver) and isinstance(Recorder(), RunObserver)


def test_a_spec_refuses_what_is_not_an_observer() -> None:
    with pytest.raises(TypeError, match="observer must be a RunObserver"):
        FetchSpec(observer=object())  # type: ignore[arg-type]
    observer = Recorder()
    spec = FetchSpec(observer=observer)
    assert spec.observer is observer
    assert spec == FetchSpec()  # a collaborator: not part of the settings' equality


async def test_counts_add_up_to_the_report_and_to_what_the_server_saw(make_demo) -> None:
    """Seeded faults (503 and 429 with ``Retry-After: 0``), a 404 that is not retried and a connection that
    is dropped: every request is one ``on_request`` with its status class, every 429/503 one
    ``on_rejection``, every resend one ``on_retry``, every request one ``on_wait`` (a rate limit is on)."""
    demo = make_demo(fault_rate=0.15, fault_429_rate=0.15, fault_retry_after=0, seed=3)
    urls = [f"{demo.url}/items/{i}" for i in range(80)]
    urls += [f"{demo.url}/items/nope-{i}" for i in range(3)]  # 404, not retried
    urls += [f"{demo.url}/drop?i={i}" for i in range(2)]  # no response, retried, gives up
    observer = Recorder()
    report = await UploadedData(
        ListStore(),
        url_maker=urls,
        rate_limit=Ratelimit(10_000, timedelta(seconds=1)),
        max_concurrency=8,
        retry_policy=fast_policy(6),
        progress_interval=0,
        observer=observer,
    ).run()

    seen = demo.stats
    assert report.attempts == seen.total  # the server saw every request the report counts
    assert observer.calls["request"] == report.attempts
    assert observer.calls["wait"] == report.attempts
    assert observer.calls["retry"] == report.attempts - report.requested
    assert observer.calls["retry"] > 20  # the faults were real
    assert observer.rejections == Counter({429: seen.by_status[429], 503: seen.by_status[503]})
    assert observer.rejections[429] > 5 and observer.rejections[503] > 5
    assert observer.classes == Counter(
        {
            "2xx": seen.by_status[200],
            "4xx": seen.by_status[404] + seen.by_status[429],
            "5xx": seen.by_status[503],
            "error": report.attempts - seen.total + seen.by_status[0],
        }
    )
    assert observer.classes["error"] > 0  # the dropped connections: no response
    assert observer.methods == Counter({"GET": report.attempts})
    assert all(0 <= s < 10 for s in observer.seconds) and all(w >= 0 for w in observer.waits)
    assert observer.calls["start"] == 1 and observer.started_with[0] is not None
    assert observer.calls["finish"] == 1 and observer.finished_with == [report]
    assert len(observer.threads) == 1  # on the loop thread


async def test_without_a_limiter_only_a_cool_down_is_a_wait(make_demo) -> None:
    """No rate limit: ``on_wait`` only for requests that sat out a shared pause (a 429's ``Retry-After``,
    here for the other worker: the one that got the 429 waits in its retry policy's backoff, not here)."""
    demo = make_demo()
    observer = Recorder()
    urls = [f"{demo.url}/items/{i}" for i in range(20)]
    report = await UploadedData(
        ListStore(), url_maker=urls, max_concurrency=4, progress_interval=0, observer=observer
    ).run()
    assert report.succeeded == 20 and observer.calls["request"] == 20
    assert observer.calls["wait"] == 0 and observer.started_with == [None]

    observer = Recorder()
    urls = [f"{demo.url}/flaky/k?fails=1&status=429&retry_after=1", *urls]
    report = await UploadedData(
        ListStore(), url_maker=urls, max_concurrency=2, progress_interval=0, observer=observer
    ).run()
    assert report.succeeded == 21
    assert observer.rejections == Counter({429: 1}) and observer.calls["retry"] == 1
    assert observer.calls["wait"] >= 1 and max(observer.waits) >= 0.8  # the other worker sat out the pause


async def test_a_failing_run_still_finishes_its_observer(make_demo) -> None:
    """``on_finish`` also when the run stops early (here: the store raises)."""

    class Broken(ListStore):
        def add_batch(self, items: list[Any]) -> None:
            raise RuntimeError("disk full")

    demo = make_demo()
    observer = Recorder()
    with pytest.raises(RuntimeError, match="disk full"):
        await UploadedData(
            Broken(),
            url_maker=[f"{demo.url}/items/{i}" for i in range(5)],
            batch_size=1,
            progress_interval=0,
            observer=observer,
        ).run()
    assert observer.calls["finish"] == 1
