"""The state of one :meth:`~.orchestrator.UploadedData.run`: the collaborators its steps share, built once
from the :class:`~.spec.FetchSpec`, and the loop that hands URLs to workers.

Each URL goes through three steps, each given only what it uses: :mod:`._transports` (the HTTP clients),
:mod:`._attempts` (limiter slot, cool-down, retries), :mod:`._batching` (records to the store); with a
paginator, :mod:`._paging` schedules the pages of every stream through the same steps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from ._attempts import Attempts
from ._batching import Batcher
from ._paging import PagedRun
from ._transports import open_fetchers, uses_fast_path
from ._types import FAILED, Fetch, SendFetch
from .auth import CredentialAuth
from .interfaces import Store
from .ratelimit import Limiter
from .report import FetchReport
from .requests import Request
from .retries import default_retry_policy
from .spec import FetchSpec

__all__ = ["Run"]


class Run:
    """One run of ``spec`` into ``store``: workers share one URL iterator (each URL is taken by exactly one).

    :param limiter: the run's limiter (built from ``spec.rate_limit`` or given: a shared one), or ``None``.
    :param total: the number of URLs when known (caps the concurrency of an unpaginated run).
    """

    def __init__(
        self,
        spec: FetchSpec,
        store: Store,
        api_call_factory: Callable[..., Any],
        limiter: Limiter | None,
        report: FetchReport,
        auth: httpx.Auth | None,
        total: int | None,
    ) -> None:
        self.spec = spec
        self.api_call_factory = api_call_factory
        self.limiter = limiter
        self.report = report
        self.auth = auth
        self.concurrency = spec.concurrency_for(total)
        #: the auth's static credentials, when it has them (what the fast path and the redirect guard use)
        self.credentials = auth if isinstance(auth, CredentialAuth) else None
        self.fast = uses_fast_path(spec, api_call_factory, self.credentials, auth)
        policy = spec.retry_policy
        self.attempts = Attempts(
            report,
            limiter,
            policy if policy is not None else default_retry_policy(),
            default_policy=policy is None,
            max_wait=spec.max_wait,
            observer=spec.observer,
        )
        self.batcher = Batcher(store, spec.batch_size)
        #: URL strings are sent with this method (a :class:`~.requests.Request` says its own)
        self.method = spec.method

    async def execute(self, urls: Iterator[Any]) -> None:
        spec = self.spec
        paged = spec.paginator is not None
        fetchers = open_fetchers(
            spec, self.api_call_factory, self.concurrency, self.auth, self.credentials, pages=paged
        )
        work: Callable[[Iterator[Any], Any, SendFetch], Any] = self._worker
        if spec.paginator is not None:
            credential_params = self.credentials.credential_params if self.credentials else {}
            work = PagedRun(
                self.report,
                self.attempts,
                self.batcher,
                spec.paginator,
                spec.record_path,
                credential_params,
                method=spec.method,
                retry_non_idempotent=spec.retry_non_idempotent,
            ).worker
        n = len(fetchers.fetch)
        workers = [
            asyncio.ensure_future(work(urls, fetchers.fetch[i % n], fetchers.send[i % n]))
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

    async def _worker(self, urls: Iterator[Any], fetch: Fetch, send: SendFetch) -> None:
        report, attempts, batcher = self.report, self.attempts, self.batcher
        method = self.method
        for url in urls:  # one shared iterator: each URL is taken by exactly one worker
            report.requested += 1
            if not isinstance(url, str):
                if isinstance(url, Request):
                    await self._send(url, send)
                    continue
                url = str(url)
            if method != "GET" and url.startswith(("http://", "https://")):  # UploadedData(method="POST")
                await self._send(Request(url, method), send, url)
                continue
            if not url.startswith(("http://", "https://")):
                attempts.fail(url, None, "not an absolute http(s) URL", 0)
                continue
            data = await attempts.fetch(url, fetch)
            if data is FAILED:
                continue
            report.succeeded += 1
            if batcher.add(data, url):
                await batcher.flush()

    async def _send(self, request: Request, send: SendFetch, source: Any = None) -> None:
        """One :class:`~.requests.Request` (its ids counted); the store learns ``source`` (default: the
        request itself, which carries its unit)."""
        report = self.report
        ids = request.ids
        if ids:
            report.ids_requested += len(ids)
        resend = request.idempotent or self.spec.retry_non_idempotent
        result = await self.attempts.fetch(
            request.url,
            lambda _url: send(request),
            method=request.method,
            resend=resend,
            ids=ids or None,
        )
        if result is FAILED:
            return
        report.succeeded += 1
        if ids:
            report.ids_succeeded += len(ids)
        if self.batcher.add(result[0], request if source is None else source):
            await self.batcher.flush()
