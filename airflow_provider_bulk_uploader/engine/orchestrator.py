"""The orchestrator: :class:`UploadedData` fetches every URL of an iterable under a rate limit, a
concurrency bound and a retry policy, and hands the parsed JSON bodies to a store in batches."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx
from tenacity import AsyncRetrying

from . import defaults
from ._attempts import FAILED, Attempts
from ._batching import Batcher
from ._paging import PagedRun
from ._transports import Fetch, open_fetchers, open_page_fetchers, uses_fast_path
from .api_calls import GetAPICall
from .auth import CredentialAuth
from .errors import LongWait
from .interfaces import Store
from .pagination import SinglePagePaginator, paginator_from
from .progress import log_progress_every
from .ratelimit import Limiter, Ratelimit, new_limiter
from .report import FetchReport
from .retries import default_retry_policy
from .validation import (
    has_http_host,
    require_bool,
    require_headers,
    require_int,
    require_origins,
    require_seconds,
)

__all__ = ["UploadedData"]

logger = logging.getLogger("airflow_provider_bulk_uploader")

HTTP_BACKENDS = defaults.HTTP_BACKENDS


class UploadedData:
    """Fetch every URL from ``url_maker`` and store the JSON bodies.

    :param store: where records go (:class:`~.interfaces.Store`).
    :param api_call_factory: builds one call per URL as ``factory(client=httpx.AsyncClient, url=...,
        retry_policy=...)``; default :class:`GetAPICall` (which runs on the fast aiohttp transport).
    :param url_maker: any iterable of absolute http(s) URLs; consumed lazily (a generator of a million
        URLs is never materialised). When it has a ``len()``, progress lines show done/total and an ETA.
    :param rate_limit: at most ``num_requests`` requests in any window of ``period``, retries
        included, counted as arrivals at the server (``Ratelimit(mode="bucket")``: a token bucket). Or a
        :class:`~.ratelimit.Limiter` to share, e.g. :class:`~.shared_ratelimit.RedisLimiter` (one budget
        across processes). ``None`` (default): no rate limit.
    :param max_concurrency: requests in flight at most (default 64, at most 4096); the connection pool is
        sized to it. With a rate limit it is also capped at ``rate_limit.num_requests``.
    :param retry_policy: a ``tenacity.AsyncRetrying`` that replaces :func:`default_retry_policy` (5
        attempts; transport errors, 408, 429, 5xx; Retry-After honoured). It is entered only after a first
        attempt failed, and sees the engine's :class:`~.errors.FetchError`.
    :param batch_size: records per ``store.add_batch`` call (default 100).
    :param timeout: seconds allowed for one attempt, connect to last byte (default 30).
    :param headers: extra headers sent with every request.
    :param verify_ssl: verify TLS certificates (default ``True``; a ``bool``, not a string).
    :param credential_origins: URLs whose origins (scheme, host, port) may receive ``auth``'s credentials;
        a request to any other origin is sent without them (logged once per origin). Default ``None``: each
        request's own origin (credentials still never follow a redirect to another origin).
    :param progress_interval: seconds between INFO progress lines (default 10; 0 disables them).
    :param http_backend: ``"aiohttp"`` (default; fast path for :class:`GetAPICall`) or ``"httpx"``
        (every request through ``httpx.AsyncClient``: what respx and ``httpx.MockTransport`` intercept).
    :param settle: with a rate limit, wait before :meth:`run` returns until every slot it used is free
        again (at most one ``period`` after the last response), so that a run starting right after this one
        with a fresh limiter — the next task in the same Airflow pool slot, the next turn of a loop — cannot
        crowd one window with this run's last requests. Default ``False``; the Airflow layer turns it on.
    :param max_wait: seconds. When the run would have to pause longer than this (a 429/503 ``Retry-After``
        — not capped at ``MAX_RETRY_AFTER_SECONDS`` for this comparison — or the shared cool-down), it stops
        instead: workers stop, records already fetched are handed to the store and the store is flushed,
        then :meth:`run` raises :class:`~.errors.LongWait` (``until`` = when to resume). ``None`` (default):
        every pause is waited out.
    :param paginator: ``None`` (default): each URL is one request and its body one item for the store. Else
        each URL starts a stream of pages (every page one request under the same limit, retries and
        concurrency; every page body one item for the store): a :class:`~.pagination.Paginator`, a type
        name (``"auto"``, ``"json_link"``, ``"header_link"``, ``"cursor"``, ``"header_cursor"``,
        ``"offset"``, ``"page_number"``, ``"single_page"``) or a dict such as ``{"type": "cursor",
        "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}`` (see :mod:`.pagination`).
    :param record_path: where the records are in a page body (``"."`` = the body is a list, ``"data"`` …),
        to count records per stream and to see an empty or short page; a page without a list there is a
        reported failure naming the path. ``None`` (default): each page is one record. Needed by ``offset``
        and ``page_number``. Given without a paginator, each URL is treated as a ``single_page`` stream.
    """

    def __init__(
        self,
        store: Store,
        api_call_factory: Callable[..., Any] = GetAPICall,
        url_maker: Iterable[str] = (),
        rate_limit: Ratelimit | Limiter | None = None,
        *,
        max_concurrency: int = defaults.MAX_CONCURRENCY,
        retry_policy: AsyncRetrying | None = None,
        batch_size: int = defaults.BATCH_SIZE,
        timeout: float = defaults.TIMEOUT_SECONDS,
        headers: dict[str, str] | None = None,
        verify_ssl: bool = True,
        progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS,
        http_backend: defaults.HttpBackend = defaults.HTTP_BACKEND,
        settle: bool = False,
        max_wait: float | None = None,
        paginator: Any = None,
        record_path: str | None = None,
        credential_origins: Iterable[str] | None = None,
    ):
        if not callable(getattr(store, "add", None)) and not callable(getattr(store, "add_batch", None)):
            raise TypeError(f"store must have an add(item) or add_batch(items) method, got {store!r}")
        if not callable(api_call_factory):
            raise TypeError(f"api_call_factory must be callable, got {api_call_factory!r}")
        if rate_limit is not None and not isinstance(rate_limit, (Ratelimit, Limiter)):
            raise TypeError(f"rate_limit must be a Ratelimit, a Limiter or None, got {rate_limit!r}")
        require_int("max_concurrency", max_concurrency, 1, maximum=defaults.MAX_CONCURRENCY_LIMIT)
        require_int("batch_size", batch_size, 1)
        require_seconds("timeout", timeout)
        require_seconds("progress_interval", progress_interval, allow_zero=True)
        require_bool("verify_ssl", verify_ssl)
        if max_wait is not None:
            require_seconds("max_wait", max_wait, allow_zero=True)
        if http_backend not in HTTP_BACKENDS:
            raise ValueError(f"http_backend must be one of {HTTP_BACKENDS}, got {http_backend!r}")
        if retry_policy is not None and not callable(getattr(retry_policy, "copy", None)):
            raise TypeError(f"retry_policy must be a tenacity.AsyncRetrying, got {retry_policy!r}")
        self.headers = require_headers("headers", headers)
        self.credential_origins = require_origins("credential_origins", credential_origins)
        if record_path is not None and not isinstance(record_path, str):
            raise TypeError(f"record_path must be a dotted key path string or None, got {record_path!r}")
        self.paginator = paginator_from(paginator)
        if self.paginator is None and record_path is not None:
            self.paginator = SinglePagePaginator()
        if self.paginator is not None and self.paginator.counts_records and record_path is None:
            raise ValueError(
                f"paginator type {self.paginator.type!r} counts records to see an empty or short page: "
                "give record_path ('.' when each page is a JSON list, 'data' …)"
            )
        self.record_path = record_path

        self.store = store
        self.api_call_factory = api_call_factory
        self.rate_limit = rate_limit
        self.max_concurrency = max_concurrency
        self.retry_policy = retry_policy
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self.verify_ssl = verify_ssl
        self.progress_interval = float(progress_interval)
        self.http_backend = http_backend
        self.settle = bool(settle)
        self.max_wait = None if max_wait is None else float(max_wait)
        self._url_maker, self._total = _checked_urls(url_maker)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False

    def __repr__(self) -> str:
        return (
            f"UploadedData(store={self.store!r}, "
            f"api_call_factory={getattr(self.api_call_factory, '__name__', '?')}, "
            f"rate_limit={self.rate_limit!r}, max_concurrency={self.max_concurrency}"
            + (f", paginator={self.paginator!r})" if self.paginator is not None else ")")
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
        report = FetchReport()
        run = _Run(self, report, auth)
        started = time.monotonic()
        total = self._total if self.paginator is None else None  # pages, not start URLs, are counted
        rate = run.rate
        logger.info(
            "bulk fetch: %s URLs, concurrency %d, rate limit %s, backend %s",
            total if total is not None else "unknown number of",
            run.concurrency,
            f"{rate.num_requests}/{rate.period_seconds:g} s {rate.mode}" + (" shared" if run.shared else "")
            if rate
            else "none",
            "aiohttp (fast path)" if run.fast else "httpx",
        )
        if self.paginator is not None:
            logger.info(
                "pagination: %r, record_path %r: each URL is the first page of a stream",
                self.paginator,
                self.record_path,
            )
        progress = (
            asyncio.ensure_future(log_progress_every(self.progress_interval, report, total))
            if self.progress_interval > 0
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
            if self.settle and run.limiter is not None:
                await _settle(run.limiter)
        finally:
            self._task = None
            if run.limiter is not None:
                await run.limiter.aclose()
        logger.info("bulk fetch finished: %s", report)
        return report


class _Run:
    """One :meth:`UploadedData.run`: workers share one URL iterator; each URL goes through the three steps —
    :mod:`._transports` (the clients), :mod:`._attempts` (limit, cool-down, retries), :mod:`._batching`
    (records to the store)."""

    def __init__(self, spec: UploadedData, report: FetchReport, auth: httpx.Auth | None):
        self.spec = spec
        self.report = report
        self.auth = auth
        given = spec.rate_limit
        #: a limiter passed in (shared through Redis) rather than built here from a Ratelimit
        self.shared = given is not None and not isinstance(given, Ratelimit)
        self.limiter: Limiter | None = new_limiter(given) if isinstance(given, Ratelimit) else given
        self.rate: Ratelimit | None = self.limiter.rate if self.limiter is not None else None
        rate = self.rate
        self.concurrency = min(spec.max_concurrency, rate.num_requests) if rate else spec.max_concurrency
        if spec._total is not None and spec.paginator is None:  # a stream may have many pages
            self.concurrency = max(1, min(self.concurrency, spec._total))
        #: the auth's static credentials, when it has them (what the fast path and the redirect guard use)
        self.credentials = auth if isinstance(auth, CredentialAuth) else None
        self.fast = uses_fast_path(spec, self.credentials, auth)
        self.attempts = Attempts(
            report,
            self.limiter,
            spec.retry_policy if spec.retry_policy is not None else default_retry_policy(),
            default_policy=spec.retry_policy is None,
            max_wait=spec.max_wait,
        )
        self.batcher = Batcher(spec.store, spec.batch_size)

    async def execute(self, urls: Iterator[Any]) -> None:
        paginator = self.spec.paginator
        if paginator is None:
            fetchers = open_fetchers(self.spec, self.concurrency, self.auth, self.credentials)
            work: Callable[[Iterator[Any], Any], Any] = self._worker
        else:
            fetchers = open_page_fetchers(self.spec, self.concurrency, self.auth, self.credentials)
            work = PagedRun(self, paginator, self.spec.record_path).worker
        workers = [
            asyncio.ensure_future(work(urls, fetchers.fetch[i % len(fetchers.fetch)]))
            for i in range(self.concurrency)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            try:
                await asyncio.shield(self.batcher.finish())
            finally:
                await fetchers.aclose()

    async def _worker(self, urls: Iterator[Any], fetch: Fetch) -> None:
        report, attempts, batcher = self.report, self.attempts, self.batcher
        for url in urls:  # one shared iterator: each URL is taken by exactly one worker
            report.requested += 1
            url = url if isinstance(url, str) else str(url)
            if not url.startswith(("http://", "https://")):
                attempts.fail(url, None, "not an absolute http(s) URL", 0)
                continue
            data = await attempts.fetch(url, fetch)
            if data is FAILED:
                continue
            report.succeeded += 1
            await batcher.add(data, url)


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
            if not has_http_host(url):
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
    require_absolute_url(str(first), argument="url_maker's first URL")
    if iterator is url_maker:  # one-shot: put the peeked URL back in front
        return itertools.chain([first], iterator), total
    return url_maker, total
