"""The orchestrator: :class:`UploadedData` fetches every URL of an iterable under a rate limit, a
concurrency bound and a retry policy, and hands the parsed JSON bodies to a store in batches."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import math
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryError

from .api_calls import GetAPICall
from .auth import CredentialAuth, CrossOriginGuard
from .errors import FetchError
from .interfaces import Store
from .progress import log_progress_every
from .ratelimit import Ratelimit, SlotLimiter
from .redaction import redact_url
from .report import Failure, FetchReport
from .responses import to_fetch_error
from .retries import CoolDown, default_retry_policy
from .validation import require_int

__all__ = ["UploadedData"]

logger = logging.getLogger("airflow_provider_bulk_uploader")

HTTP_BACKENDS = ("aiohttp", "httpx")
#: Connections per ``httpx.AsyncClient`` on the httpx path. httpcore scans its whole pool on every
#: request (measured: 1.5 ms CPU/request at 4 connections, 4.4 ms at 64), so many small pools beat one big.
HTTPX_CONNECTIONS_PER_CLIENT = 8
#: Shared pause after a 429 that carried no Retry-After, in seconds.
DEFAULT_429_PAUSE_SECONDS = 1.0


class UploadedData:
    """Fetch every URL from ``url_maker`` and store the JSON bodies.

    :param store: where records go (:class:`~airflow_provider_bulk_uploader.interfaces.Store`).
    :param api_call_factory: builds one call per URL as ``factory(client=httpx.AsyncClient, url=...,
        retry_policy=...)``; default :class:`GetAPICall` (which runs on the fast aiohttp transport).
    :param url_maker: any iterable of absolute http(s) URLs; consumed lazily (a generator of a million
        URLs is never materialised). When it has a ``len()``, progress lines show done/total and an ETA.
    :param rate_limit: at most ``num_requests`` requests in any window of ``period``, retries
        included, counted as arrivals at the server. ``None`` (default): no rate limit.
    :param max_concurrency: requests in flight at most (default 64); the connection pool is sized to it.
        With a rate limit it is also capped at ``rate_limit.num_requests``.
    :param retry_policy: a ``tenacity.AsyncRetrying`` that replaces :func:`default_retry_policy` (5
        attempts; transport errors, 408, 429, 5xx; Retry-After honoured). It is entered only after a first
        attempt failed, and sees the engine's :class:`~airflow_provider_bulk_uploader.errors.FetchError`.
    :param batch_size: records per ``store.add_batch`` call (default 100).
    :param timeout: seconds allowed for one attempt, connect to last byte (default 30).
    :param headers: extra headers sent with every request.
    :param verify_ssl: verify TLS certificates (default ``True``).
    :param progress_interval: seconds between INFO progress lines (default 10; 0 disables them).
    :param http_backend: ``"aiohttp"`` (default; fast path for :class:`GetAPICall`) or ``"httpx"``
        (every request through ``httpx.AsyncClient``: what respx and ``httpx.MockTransport`` intercept).
    :param settle: with a rate limit, wait before :meth:`run` returns until every slot it used is free
        again (at most one ``period`` after the last response), so that a run starting right after this one
        with a fresh limiter — the next task in the same Airflow pool slot, the next turn of a loop — cannot
        crowd one window with this run's last requests. Default ``False``; the Airflow layer turns it on.
    """

    def __init__(
        self,
        store: Store,
        api_call_factory: Callable[..., Any] = GetAPICall,
        url_maker: Iterable[str] = (),
        rate_limit: Ratelimit | None = None,
        *,
        max_concurrency: int = 64,
        retry_policy: AsyncRetrying | None = None,
        batch_size: int = 100,
        timeout: float = 30.0,
        headers: dict[str, str] | None = None,
        verify_ssl: bool = True,
        progress_interval: float = 10.0,
        http_backend: str = "aiohttp",
        settle: bool = False,
    ):
        if not callable(getattr(store, "add", None)) and not callable(getattr(store, "add_batch", None)):
            raise TypeError(f"store must have an add(item) or add_batch(items) method, got {store!r}")
        if not callable(api_call_factory):
            raise TypeError(f"api_call_factory must be callable, got {api_call_factory!r}")
        if rate_limit is not None and not isinstance(rate_limit, Ratelimit):
            raise TypeError(f"rate_limit must be a Ratelimit or None, got {rate_limit!r}")
        require_int("max_concurrency", max_concurrency, 1)
        require_int("batch_size", batch_size, 1)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if isinstance(progress_interval, bool) or not isinstance(progress_interval, (int, float)):
            raise TypeError(f"progress_interval must be a number of seconds, got {progress_interval!r}")
        if progress_interval < 0:
            raise ValueError(f"progress_interval must be >= 0 seconds, got {progress_interval!r}")
        if http_backend not in HTTP_BACKENDS:
            raise ValueError(f"http_backend must be one of {HTTP_BACKENDS}, got {http_backend!r}")
        if retry_policy is not None and not callable(getattr(retry_policy, "copy", None)):
            raise TypeError(f"retry_policy must be a tenacity.AsyncRetrying, got {retry_policy!r}")
        if headers is not None and not isinstance(headers, dict):
            raise TypeError(f"headers must be a dict of str to str, got {type(headers).__name__}")

        self.store = store
        self.api_call_factory = api_call_factory
        self.rate_limit = rate_limit
        self.max_concurrency = max_concurrency
        self.retry_policy = retry_policy
        self.batch_size = batch_size
        self.timeout = float(timeout)
        self.headers = dict(headers or {})
        self.verify_ssl = verify_ssl
        self.progress_interval = float(progress_interval)
        self.http_backend = http_backend
        self.settle = bool(settle)
        self._url_maker, self._total = _checked_urls(url_maker)
        self._policy = retry_policy if retry_policy is not None else default_retry_policy()
        self._default_policy = retry_policy is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._cancel_requested = False

    def __repr__(self) -> str:
        return (
            f"UploadedData(store={self.store!r}, "
            f"api_call_factory={getattr(self.api_call_factory, '__name__', '?')}, "
            f"rate_limit={self.rate_limit!r}, max_concurrency={self.max_concurrency})"
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
        total = self._total
        logger.info(
            "bulk fetch: %s URLs, concurrency %d, rate limit %s, backend %s",
            total if total is not None else "unknown number of",
            run.concurrency,
            f"{self.rate_limit.num_requests}/{self.rate_limit.period_seconds:g} s"
            if self.rate_limit
            else "none",
            "aiohttp (fast path)" if run.fast else "httpx",
        )
        progress = (
            asyncio.ensure_future(log_progress_every(self.progress_interval, report, total))
            if self.progress_interval > 0
            else None
        )
        try:
            try:
                await run.execute(iter(self._url_maker))
            finally:
                if progress is not None:
                    progress.cancel()
                report.elapsed_seconds = time.monotonic() - started
            if self.settle and run.limiter is not None:
                await _settle(run.limiter)
        finally:
            self._task = None
        logger.info("bulk fetch finished: %s", report)
        return report


class _Run:
    """The state of one :meth:`UploadedData.run` (limiter, cool-down, transport, pending batch)."""

    def __init__(self, spec: UploadedData, report: FetchReport, auth: httpx.Auth | None):
        self.spec = spec
        self.report = report
        self.auth = auth
        rate = spec.rate_limit
        self.concurrency = min(spec.max_concurrency, rate.num_requests) if rate else spec.max_concurrency
        if spec._total is not None:
            self.concurrency = max(1, min(self.concurrency, spec._total))
        self.limiter = SlotLimiter(rate) if rate else None
        self.cooldown = CoolDown()
        #: the auth's static credentials, when it has them (what the fast path and the redirect guard use)
        self.credentials = auth if isinstance(auth, CredentialAuth) else None
        self.fast = (
            spec.http_backend == "aiohttp"
            # declared by the class itself: a subclass that overrides content() must not be bypassed
            and getattr(spec.api_call_factory, "__dict__", {}).get("fast_path_method") == "GET"
            and (auth is None or self.credentials is not None)
        )
        self.batch: list[Any] = []
        self.flush_lock = asyncio.Lock()
        self.store_failed = False
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self._closers: list[Callable[[], Awaitable[None]]] = []

    # -- transports ----------------------------------------------------------------------------------
    def _make_fetchers(self) -> list[Callable[[str], Awaitable[Any]]]:
        spec = self.spec
        if self.fast:
            from .transport import AiohttpTransport

            auth = self.credentials
            transport = AiohttpTransport(
                max_connections=self.concurrency,
                timeout=spec.timeout,
                headers=spec.headers,
                credential_headers=auth.credential_headers if auth else None,
                credential_params=auth.credential_params if auth else None,
                verify_ssl=spec.verify_ssl,
            )
            self._closers.append(transport.aclose)
            return [transport.get_json]
        n_clients = math.ceil(self.concurrency / HTTPX_CONNECTIONS_PER_CLIENT)
        per_client = math.ceil(self.concurrency / n_clients)
        # one TLS context for every client: building one costs ~50 ms (loading the CA bundle)
        verify: ssl.SSLContext | bool = httpx.create_ssl_context() if spec.verify_ssl else False
        fetchers = []
        for _ in range(n_clients):
            limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
            client = httpx.AsyncClient(
                auth=self.auth,
                headers=spec.headers,
                timeout=spec.timeout,
                follow_redirects=True,
                transport=CrossOriginGuard(
                    httpx.AsyncHTTPTransport(limits=limits, verify=verify), self.credentials
                ),
            )
            self._closers.append(client.aclose)
            fetchers.append(self._factory_fetcher(client))
        return fetchers

    def _factory_fetcher(self, client: httpx.AsyncClient) -> Callable[[str], Awaitable[Any]]:
        factory, policy, timeout = self.spec.api_call_factory, self.spec.retry_policy, self.spec.timeout

        def fetch(url: str) -> Awaitable[Any]:
            # httpx's timeouts apply to each read, not to the attempt: a trickling body would never time
            # out. Bound the whole attempt, as the aiohttp path does with its total timeout.
            return _within(timeout, factory(client=client, url=url, retry_policy=policy).content())

        return fetch

    # -- the run -------------------------------------------------------------------------------------
    async def execute(self, urls: Iterator[Any]) -> None:
        fetchers = self._make_fetchers()
        workers = [
            asyncio.ensure_future(self._worker(urls, fetchers[i % len(fetchers)]))
            for i in range(self.concurrency)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            try:
                await asyncio.shield(self._finish())
            finally:
                for close in self._closers:
                    await asyncio.shield(close())

    async def _finish(self) -> None:
        """Hand the last partial batch to the store, then flush it — also after a cancel. After a store
        error only ``flush()`` runs (to release the store), not another ``add_batch``."""
        try:
            if not self.store_failed:
                await self._flush(final=True)
        finally:
            flush = getattr(self.spec.store, "flush", None)
            if callable(flush):
                result = flush()
                if inspect.isawaitable(result):
                    await result

    async def _worker(self, urls: Iterator[Any], fetch: Callable[[str], Awaitable[Any]]) -> None:
        report, batch_size = self.report, self.spec.batch_size
        for url in urls:  # one shared iterator: each URL is taken by exactly one worker
            report.requested += 1
            url = url if isinstance(url, str) else str(url)
            if not url.startswith(("http://", "https://")):
                self._fail(url, None, "not an absolute http(s) URL", 0)
                continue
            try:
                data = await self._attempt(url, fetch)
            except FetchError as first:
                outcome = await self._retry(url, fetch, first)
                if outcome is _FAILED:
                    continue
                data = outcome
            report.succeeded += 1
            self.batch.append(data)
            if len(self.batch) >= batch_size:
                await self._flush()

    async def _attempt(self, url: str, fetch: Callable[[str], Awaitable[Any]]) -> Any:
        """One request: take a rate-limit slot, wait out any shared cool-down, send, give the slot back.

        The cool-down is checked *after* the slot is granted: a worker that was queued for a slot when a
        429 arrived must not send during the pause."""
        cooldown, limiter = self.cooldown, self.limiter
        if limiter is not None:
            await limiter.acquire()
        started = time.monotonic() if self.debug else 0.0
        try:
            if cooldown._until:
                await cooldown.wait()
            self.report.attempts += 1
            data = await fetch(url)
        except Exception as exc:
            error = to_fetch_error(exc, url)
            if error.status == 429:
                cooldown.pause(
                    error.retry_after if error.retry_after is not None else DEFAULT_429_PAUSE_SECONDS
                )
            if self.debug:
                logger.debug("GET %s failed after %.1f ms: %s", error.url, _ms_since(started), error)
            raise error from None
        finally:
            if limiter is not None:
                limiter.release()
        if self.debug:
            logger.debug("GET %s ok in %.1f ms", redact_url(url), _ms_since(started))
        return data

    async def _retry(self, url: str, fetch: Callable[[str], Awaitable[Any]], first: FetchError) -> Any:
        """Continue after a failed first attempt under the retry policy; ``_FAILED`` if it gives up."""
        attempts = 1
        if self.spec._default_policy and not first.retryable:
            self._fail(url, first.status, str(first), attempts)
            return _FAILED
        pending: list[BaseException] = [first]
        last: BaseException = first
        try:
            async for attempt in self.spec._policy.copy():
                with attempt:
                    if pending:
                        raise pending.pop()  # replay the first failure so tenacity counts and waits for it
                    attempts += 1
                    return await self._attempt(url, fetch)
        except RetryError as exc:
            last = exc.last_attempt.exception() or exc
        except FetchError as exc:
            last = exc
        except Exception as exc:  # a user policy may raise anything (e.g. from a callback)
            last = to_fetch_error(exc, url)
        error = last if isinstance(last, FetchError) else to_fetch_error(last, url)
        self._fail(url, error.status, str(error), attempts)
        return _FAILED

    def _fail(self, url: str, status: int | None, error: str, attempts: int) -> None:
        report = self.report
        report.failed += 1
        report.failures.append(Failure(url=redact_url(url), status=status, error=error, attempts=attempts))
        logger.warning("GET %s failed after %d attempt(s): %s", redact_url(url), attempts, error)

    async def _flush(self, *, final: bool = False) -> None:
        """Hand the store every full batch (and with ``final`` the last partial one), never more than
        ``batch_size`` records per call, one call at a time."""
        size = self.spec.batch_size
        if len(self.batch) < size and not (final and self.batch):
            return
        async with self.flush_lock:  # an async store: records keep arriving while a call is awaited
            while not self.store_failed and (len(self.batch) >= size or (final and self.batch)):
                chunk = self.batch[:size]
                del self.batch[:size]
                await self._hand_to_store(chunk)

    async def _hand_to_store(self, chunk: list[Any]) -> None:
        store = self.spec.store
        add_batch = getattr(store, "add_batch", None)
        try:
            if callable(add_batch):
                result = add_batch(chunk)
                if inspect.isawaitable(result):
                    await result
                return
            for item in chunk:
                result = store.add(item)
                if inspect.isawaitable(result):
                    await result
        except Exception:  # not a cancel: after a cancel the last batch is still handed over
            self.store_failed = True
            raise


_FAILED = object()


async def _settle(limiter: SlotLimiter) -> None:
    """Sleep until every slot of ``limiter`` is reusable (see ``UploadedData(settle=True)``)."""
    loop = asyncio.get_running_loop()
    delay = limiter.free_again_at() - loop.time()
    if delay > 0:
        logger.info("waiting %.2f s for the rate-limit window to clear before returning (settle=True)", delay)
        await asyncio.sleep(delay)


if sys.version_info >= (3, 11):

    async def _within(seconds: float, awaitable: Awaitable[Any]) -> Any:
        """``await awaitable``, raising ``TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10
    # asyncio.wait_for on 3.10/3.11 can swallow a cancel that races with completion; timeout() cannot
    def _within(seconds: float, awaitable: Awaitable[Any]) -> Awaitable[Any]:
        return asyncio.wait_for(awaitable, seconds)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0


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
            if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                require_absolute_url(str(url), argument=f"url_maker[{index}]")
        return url_maker, len(url_maker)
    try:
        total: int | None = len(url_maker)  # type: ignore[arg-type]
    except TypeError:
        total = None
    iterator = iter(url_maker)
    first = next(iterator, _FAILED)
    if first is _FAILED:
        return url_maker, total
    require_absolute_url(str(first), argument="url_maker's first URL")
    if iterator is url_maker:  # one-shot: put the peeked URL back in front
        return itertools.chain([first], iterator), total
    return url_maker, total
