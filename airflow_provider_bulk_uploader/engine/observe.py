"""What a run tells an observer while it runs: :class:`RunObserver`, a small protocol of callbacks.

The engine knows nothing of metrics systems: it calls these methods where the events happen (the Airflow
layer's :class:`~airflow_provider_bulk_uploader.utils.metrics.StatsObserver` turns them into Airflow
``Stats`` metrics). Give one with ``UploadedData(observer=...)`` or ``FetchSpec(observer=...)``; without
one (the default) the run makes no call at all and reads no extra clock.

Where each is called (every call is on the run's event loop thread, except ``on_records``, which a store
may call from the thread it writes in):

* ``on_start(limiter)`` — once, before the first request, with the run's limiter (``None`` without a rate
  limit): an observer may read figures it exposes (e.g. an ``effective_rate`` attribute) while the run goes.
* ``on_wait(seconds)`` — before each request that had a rate limit or a cool-down to get through: the
  seconds it waited for its slot (or token) and for any shared pause (429, ``Retry-After``).
* ``on_request(method, status_class, seconds)`` — after each request sent (retries included): its method,
  ``"2xx"``/``"3xx"``/``"4xx"``/``"5xx"``, or ``"error"`` when no response came (timeout, refused or
  dropped connection, a body that is not JSON is a ``"2xx"`` that failed), and its duration in seconds.
* ``on_rejection(status)`` — a 429 or 503 answer (also counted by ``on_request``).
* ``on_retry()`` — before each request sent again for the same URL (under the retry policy, or once more
  after a 401 to credentials since renewed).
* ``on_records(records, nbytes)`` — records durably stored and their size in bytes, called by a *store*
  that knows them (the engine hands bodies to the store and cannot: a store applies ``record_path`` and
  encodes; the provider's stores call it).
* ``on_finish(report)`` — once, when the run ends (also after a failure, a long-pause stop or a cancel),
  with its :class:`~.report.FetchReport` as it stands.

Each callback must be cheap and must not raise: it runs on the request path (an exception would end the
URL's attempt). :class:`NullObserver` implements them all as no-ops, a base for observers that want a few.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .report import FetchReport

__all__ = ["STATUS_CLASSES", "NullObserver", "RunObserver", "status_class"]

#: what ``on_request`` reports as ``status_class``: by the first digit, ``"error"`` without a response
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error")
_BY_DIGIT = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


def status_class(status: int | None) -> str:
    """``"4xx"`` for 404, ``"error"`` for ``None`` (no response) or a status outside 100-599."""
    return "error" if status is None else _BY_DIGIT.get(status // 100, "error")


@runtime_checkable
class RunObserver(Protocol):
    """Callbacks a run makes as it goes (see the module's docstring for when each is called)."""

    def on_start(self, limiter: Any) -> None: ...

    def on_wait(self, seconds: float) -> None: ...

    def on_request(self, method: str, status_class: str, seconds: float) -> None: ...

    def on_rejection(self, status: int) -> None: ...

    def on_retry(self) -> None: ...

    def on_records(self, records: int, nbytes: int) -> None: ...

    def on_finish(self, report: FetchReport) -> None: ...


class NullObserver:
    """A :class:`RunObserver` that does nothing (subclass it and override the callbacks you need)."""

    def on_start(self, limiter: Any) -> None:
        pass

    def on_wait(self, seconds: float) -> None:
        pass

    def on_request(self, method: str, status_class: str, seconds: float) -> None:
        pass

    def on_rejection(self, status: int) -> None:
        pass

    def on_retry(self) -> None:
        pass

    def on_records(self, records: int, nbytes: int) -> None:
        pass

    def on_finish(self, report: FetchReport) -> None:
        pass
