"""The orchestrator: :class:`UploadedData` fetches every URL of an iterable under a rate limit, a
concurrency bound and a retry policy, and hands the parsed JSON bodies to a store in batches."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from . import defaults
from ._run import Run
from .api_calls import GetAPICall
from .errors import LongWait
from .interfaces import Store
from .progress import log_progress_every
from .ratelimit import AdaptiveLimiter, Limiter, Ratelimit, new_limiter
from .report import FetchReport
from .requests import Request
from .spec import FetchSpec
from .validation import has_http_host

__all__ = ["UploadedData"]

logger = logging.getLogger("airflow_provider_bulk_uploader")

HTTP_BACKENDS = defaults.HTTP_BACKENDS
_SETTINGS = frozenset(f.name for f in dataclasses.fields(FetchSpec))


class UploadedData:
    """Fetch every URL from ``url_maker`` and store the JSON bodies.

    :param store: where records go (:class:`~.interfaces.Store`).
    :param api_call_factory: builds one call per URL as ``factory(client=httpx.AsyncClient, url=...,
        retry_policy=...)``; default :class:`GetAPICall` (which runs on the fast aiohttp transport).
    :param url_maker: any iterable of absolute http(s) URLs — or of :class:`~.requests.Request` objects
        (method, body, headers, the unit and ids they carry), or both; consumed lazily (a generator of a
        million URLs is never materialised). URL strings are sent with ``method`` (default ``GET``). When
        it has a ``len()``, progress lines show done/total and an ETA.
    :param rate_limit: at most ``num_requests`` requests in any window of ``period``, retries
        included, counted as arrivals at the server (``Ratelimit(mode="bucket")``: a token bucket). Or a
        :class:`~.ratelimit.Limiter` to share, e.g. :class:`~.shared_ratelimit.RedisLimiter` (one budget
        across processes). ``None`` (default): no rate limit.
    :param spec: every other setting at once, a :class:`~.spec.FetchSpec` (e.g. built by the Airflow hook).
    :param settings: or the same settings one by one, as keyword arguments (each a field of
        :class:`~.spec.FetchSpec`, validated there, with its defaults): ``max_concurrency`` (64),
        ``retry_policy``, ``batch_size`` (100), ``timeout`` (seconds, 30), ``headers``, ``verify_ssl``
        (``True``), ``credential_origins``, ``progress_interval`` (seconds, 10), ``http_backend``
        (``"aiohttp"`` or ``"httpx"``, mockable with respx), ``settle`` (``False``), ``max_wait`` (seconds),
        ``paginator``, ``record_path``, ``observer`` (a :class:`~.observe.RunObserver`: callbacks per
        request, retry, rejection and wait, e.g. for metrics). Given together with ``spec``, they override
        its values.
    """

    def __init__(
        self,
        store: Store,
        api_call_factory: Callable[..., Any] = GetAPICall,
        url_maker: Iterable[str] = (),
        rate_limit: Ratelimit | Limiter | None = None,
        *,
        spec: FetchSpec | None = None,
        **settings: Any,
    ):
        if not callable(getattr(store, "add", None)) and not callable(getattr(store, "add_batch", None)):
            raise TypeError(f"store must have an add(item) or add_batch(items) method, got {store!r}")
        if not callable(api_call_factory):
            raise TypeError(f"api_call_factory must be callable, got {api_call_factory!r}")
        if rate_limit is not None and not isinstance(rate_limit, (Ratelimit, Limiter)):
            raise TypeError(f"rate_limit must be a Ratelimit, a Limiter or None, got {rate_limit!r}")
        if spec is not None and not isinstance(spec, FetchSpec):
            raise TypeError(f"spec must be a FetchSpec or None, got {type(spec).__name__}")
        unknown = sorted(set(settings) - _SETTINGS)
        if unknown:
            raise TypeError(
                f"UploadedData() got unexpected keyword argument(s) {unknown}; settings are the fields of "
                f"FetchSpec: {', '.join(sorted(_SETTINGS))}"
            )
        #: a limiter passed in (e.g. shared through Redis) rather than built per run from a Ratelimit
        self.limiter: Limiter | None = None if isinstance(rate_limit, Ratelimit) else rate_limit
        if rate_limit is not None:
            settings["rate_limit"] = rate_limit if isinstance(rate_limit, Ratelimit) else rate_limit.rate
        self.spec: FetchSpec = spec.replace(**settings) if spec is not None else FetchSpec(**settings)
        if self.spec.shared and self.limiter is None:
            raise ValueError(
                "rate_limit_scope 'shared' needs the shared limiter itself as rate_limit (e.g. a "
                "RedisLimiter); a Ratelimit alone would be enforced in this process only"
            )
        self.store = store
        self.api_call_factory = api_call_factory
        self._url_maker, self._total = _checked_urls(url_maker)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False

    @property
    def rate_limit(self) -> Ratelimit | Limiter | None:
        """The limiter given, else the declared :class:`~.ratelimit.Ratelimit` (or ``None``)."""
        return self.limiter if self.limiter is not None else self.spec.rate_limit

    def __getattr__(self, name: str) -> Any:
        if name in _SETTINGS:  # uploader.max_concurrency, uploader.timeout ... read the spec
            return getattr(self.spec, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __repr__(self) -> str:
        paginator = self.spec.paginator
        return (
            f"UploadedData(store={self.store!r}, "
            f"api_call_factory={getattr(self.api_call_factory, '__name__', '?')}, "
            f"rate_limit={self.rate_limit!r}, max_concurrency={self.spec.max_concurrency}"
            + (f", paginator={paginator!r})" if paginator is not None else ")")
        )

    def cancel(self) -> None:
        """Stop a running :meth:`run` from any thread (e.g. an Airflow ``on_kill``). Records already
        fetched are still flushed to the store; ``run()`` then raises ``asyncio.CancelledError``."""
        self._cancel_requested = True  # seen by a run() that is just starting
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)

    async def run(self, auth: httpx.Auth | None = None) -> FetchReport:
        """Fetch every URL once (plus retries) and return a :class:`FetchReport`.

        :param auth: credentials for every request, e.g. ``HeaderAuth("X-API-Key", token)``.
        """
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._cancel_requested:  # cancel() came before this run had a task to cancel
            self._cancel_requested = False
            self._task = None
            raise asyncio.CancelledError("UploadedData.cancel() was called before run() started")
        spec = self.spec
        limiter = self.limiter
        if limiter is None and spec.rate_limit is not None:
            limiter = new_limiter(spec.rate_limit)
        report = FetchReport()
        run = Run(spec, self.store, self.api_call_factory, limiter, report, auth, self._total)
        observer = spec.observer
        if observer is not None:
            observer.on_start(limiter)
        started = time.monotonic()
        total = self._total if spec.paginator is None else None  # pages, not start URLs, are counted
        self._log_start(run, total)
        progress = (
            asyncio.ensure_future(log_progress_every(spec.progress_interval, report, total))
            if spec.progress_interval > 0
            else None
        )
        try:
            try:
                await run.execute(iter(self._url_maker))
            except LongWait as stop:
                # URLs taken but interrupted count in neither succeeded nor failed: they are fetched on resume
                report.requested = report.succeeded + report.failed
                report.elapsed_seconds = time.monotonic() - started
                stop.report = report
                logger.info("bulk fetch stopped for a long pause (%s): %s", stop, report)
                raise
            finally:
                if progress is not None:
                    progress.cancel()
                report.elapsed_seconds = time.monotonic() - started
                if isinstance(limiter, AdaptiveLimiter) and report.effective_rate_min is not None:
                    # the pace may have been lowered by another process sharing the budget, not only here
                    report.effective_rate_min = min(report.effective_rate_min, limiter.lowest_rate)
            if spec.settle and limiter is not None:
                await _settle(limiter)
        finally:
            self._task = None
            if observer is not None:
                observer.on_finish(report)
            if limiter is not None:
                await limiter.aclose()
        logger.info("bulk fetch finished: %s", report)
        return report

    def _log_start(self, run: Run, total: int | None) -> None:
        spec = self.spec
        rate = spec.describe_rate_limit()
        if spec.rate_limit is not None:
            rate += f" ({spec.describe_pacing()})"
        if self.limiter is not None:
            rate += f" via {self.limiter!r}"
        logger.info(
            "bulk fetch: %s URLs, concurrency %d, rate limit %s, backend %s",
            total if total is not None else "unknown number of",
            run.concurrency,
            rate,
            "aiohttp (fast path)" if run.fast else "httpx",
        )
        if spec.paginator is not None:
            logger.info(
                "pagination: %r, record_path %r: each URL is the first page of a stream",
                spec.paginator,
                spec.record_path,
            )


async def _settle(limiter: Limiter) -> None:
    """Sleep until every slot of ``limiter`` is reusable (see ``UploadedData(settle=True)``)."""
    loop = asyncio.get_running_loop()
    delay = limiter.free_again_at() - loop.time()
    if delay > 0:
        logger.info("waiting %.2f s for the rate-limit window to clear before returning (settle=True)", delay)
        await asyncio.sleep(delay)


#: What peeking at an empty URL iterable gives.
_NO_URL = object()


def _checked_urls(url_maker: Iterable[Any]) -> tuple[Iterable[Any], int | None]:
    """Validate URLs now, so that a URL without a scheme fails at construction: every URL of a list or
    tuple (a string check each), the first of any other iterable (peeked without losing it from a one-shot
    iterator; a later bad URL becomes a failure in the report). Return the iterable to use and its length
    when known."""
    if isinstance(url_maker, (str, bytes)) or not isinstance(url_maker, Iterable):
        raise TypeError(f"url_maker must be an iterable of URLs, got {type(url_maker).__name__}")
    from .iterators import require_absolute_url

    if isinstance(url_maker, (list, tuple)):
        for index, url in enumerate(url_maker):
            if not has_http_host(url) and not isinstance(url, Request):  # a Request checked its own URL
                require_absolute_url(str(url), argument=f"url_maker[{index}]")
        return url_maker, len(url_maker)
    try:
        total: int | None = len(url_maker)  # type: ignore[arg-type]
    except TypeError:
        total = None
    iterator = iter(url_maker)
    first = next(iterator, _NO_URL)
    if first is _NO_URL:
        return url_maker, total
    if not isinstance(first, Request):
        require_absolute_url(str(first), argument="url_maker's first URL")
    if iterator is url_maker:  # one-shot: put the peeked URL back in front
        return itertools.chain([first], iterator), total
    return url_maker, total
