"""Step 1 of a run: the fetchers, one ``fetch(url) -> parsed JSON`` per HTTP client, and their closers.

The aiohttp fast path serves the built-in :class:`~.api_calls.GetAPICall` (one pooled transport); every
other call factory, and ``http_backend="httpx"``, runs on small ``httpx.AsyncClient`` pools.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from . import defaults
from ._types import Fetch, PageFetch, SendFetch
from .api_calls import RequestAPICall
from .auth import (
    NO_ORIGIN,
    ORIGIN_EXTENSION,
    CredentialAuth,
    CredentialScope,
    CrossOriginGuard,
    DynamicCredentialAuth,
)
from .requests import Request
from .responses import decode_json_response
from .spec import FetchSpec
from .urls import cached_origin

#: ``factory(client=..., url=..., retry_policy=...)``: builds one API call (:class:`~.interfaces.APICall`)
CallFactory = Callable[..., Any]


@dataclass
class Fetchers:
    """What :func:`open_fetchers` opened: fetchers to share round-robin among workers, and closers."""

    fetch: list[Any]  # Fetch, or PageFetch with pages=True
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    fast: bool = False
    #: one :data:`~._types.SendFetch` per entry of :attr:`fetch` (on the same client): sends a
    #: :class:`~.requests.Request` with the built-in call
    send: list[SendFetch] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in self.closers:
            await asyncio.shield(close())


def uses_fast_path(
    spec: FetchSpec, factory: CallFactory, credentials: CredentialAuth | None, auth: httpx.Auth | None
) -> bool:
    """Whether the run can go on the aiohttp fast path: backend aiohttp, the built-in call (declared by the
    class itself, so a subclass overriding ``content()`` is not bypassed), and static credentials or
    dynamic ones (:class:`~.auth.DynamicCredentialAuth`: asked for per request)."""
    return (
        spec.http_backend == "aiohttp"
        and getattr(factory, "__dict__", {}).get("fast_path_method") == "GET"
        and (auth is None or credentials is not None or isinstance(auth, DynamicCredentialAuth))
    )


def _dynamic(auth: httpx.Auth | None) -> DynamicCredentialAuth | None:
    return auth if isinstance(auth, DynamicCredentialAuth) else None


def open_fetchers(
    spec: FetchSpec,
    factory: CallFactory,
    concurrency: int,
    auth: httpx.Auth | None,
    credentials: CredentialAuth | None,
    *,
    pages: bool = False,
) -> Fetchers:
    """Open the HTTP clients for one run of ``spec`` with ``concurrency`` requests in flight at most: each
    fetcher a :data:`~._types.Fetch`, or with ``pages`` a :data:`~._types.PageFetch` (a paginated run)."""
    scope = CredentialScope(spec.credential_origins)
    if uses_fast_path(spec, factory, credentials, auth):
        return _aiohttp_fetchers(spec, concurrency, credentials, scope, pages=pages, dynamic=_dynamic(auth))
    return _httpx_fetchers(spec, factory, concurrency, auth, credentials, scope, pages=pages)


def _aiohttp_fetchers(
    spec: FetchSpec,
    concurrency: int,
    credentials: CredentialAuth | None,
    scope: CredentialScope,
    *,
    pages: bool,
    dynamic: DynamicCredentialAuth | None = None,
) -> Fetchers:
    from .transport import AiohttpTransport

    transport = AiohttpTransport(
        max_connections=concurrency,
        timeout=spec.timeout,
        headers=spec.headers,
        credential_headers=credentials.credential_headers if credentials else None,
        credential_params=credentials.credential_params if credentials else None,
        verify_ssl=spec.verify_ssl,
        scope=scope,
        dynamic=dynamic,
    )
    return Fetchers(
        [transport.get_page if pages else transport.get_json],
        [transport.aclose],
        fast=True,
        send=[transport.send],
    )


def _httpx_fetchers(
    spec: FetchSpec,
    factory: CallFactory,
    concurrency: int,
    auth: httpx.Auth | None,
    credentials: CredentialAuth | None,
    scope: CredentialScope,
    *,
    pages: bool,
) -> Fetchers:
    n_clients = math.ceil(concurrency / defaults.HTTPX_CONNECTIONS_PER_CLIENT)
    per_client = math.ceil(concurrency / n_clients)
    # one TLS context for every client: building one costs ~50 ms (loading the CA bundle)
    verify: ssl.SSLContext | bool = httpx.create_ssl_context() if spec.verify_ssl else False
    opened = Fetchers([])
    guarded = credentials if credentials is not None else _dynamic(auth)  # what a cross-origin hop loses
    # the user's own Accept-Encoding (any letter case) replaces the default, never the other way round
    headers = dict(spec.headers)
    if not any(k.lower() == "accept-encoding" for k in headers):
        headers = {"Accept-Encoding": defaults.ACCEPT_ENCODING, **headers}
    for _ in range(n_clients):
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        client = httpx.AsyncClient(
            auth=auth,
            headers=headers,
            timeout=spec.timeout,
            follow_redirects=True,
            max_redirects=defaults.MAX_REDIRECTS,
            transport=CrossOriginGuard(
                httpx.AsyncHTTPTransport(limits=limits, verify=verify), guarded, scope
            ),
        )
        opened.closers.append(client.aclose)
        opened.send.append(_request_sender(spec, client, scope))
        opened.fetch.append(
            _page_fetcher(spec, factory, client, scope) if pages else _factory_fetcher(spec, factory, client)
        )
    return opened


def _factory_fetcher(spec: FetchSpec, factory: CallFactory, client: httpx.AsyncClient) -> Fetch:
    policy, timeout = spec.retry_policy, spec.timeout

    def fetch(url: str) -> Awaitable[Any]:
        # httpx's timeouts apply to each read, not to the attempt: a trickling body would never time
        # out. Bound the whole attempt, as the aiohttp path does with its total timeout.
        return within(timeout, factory(client=client, url=url, retry_policy=policy).content())

    return fetch


def _request_sender(spec: FetchSpec, client: httpx.AsyncClient, scope: CredentialScope) -> SendFetch:
    """Requests on httpx, with the built-in :class:`~.api_calls.RequestAPICall` (a custom
    ``api_call_factory`` takes URLs only). With ``trusted_url`` (a page of a stream) the stream's origin goes
    in the request extensions, so :class:`CrossOriginGuard` sends credentials only there."""
    timeout = spec.timeout

    async def send(request: Request, trusted_url: str | None) -> tuple[Any, Mapping[str, str]]:
        extensions = None
        if trusted_url is not None:
            trusted = cached_origin(trusted_url) if scope.allows(trusted_url) else NO_ORIGIN
            extensions = {ORIGIN_EXTENSION: trusted}
        call = RequestAPICall(client, request=request, extensions=extensions)
        body = await call.content()
        return body, call.response_headers

    def bounded(request: Request, trusted_url: str | None = None) -> Awaitable[tuple[Any, Mapping[str, str]]]:
        return within(timeout, send(request, trusted_url))

    return bounded


def _page_fetcher(
    spec: FetchSpec, factory: CallFactory, client: httpx.AsyncClient, scope: CredentialScope
) -> PageFetch:
    """Pages on httpx. The built-in GET (and any page on another origin than its stream's start) is sent
    here with the stream's origin in the request extensions, so :class:`CrossOriginGuard` strips the
    credentials from a ``next`` link to another origin (and from every page of a stream whose start is
    outside ``scope``); a custom ``api_call_factory`` serves same-origin pages (its ``content()`` gives a body
    only: no headers for ``header_link``/``header_cursor``)."""
    policy, timeout = spec.retry_policy, spec.timeout
    builtin = getattr(factory, "__dict__", {}).get("fast_path_method") == "GET"

    async def get(url: str, trusted_url: str) -> tuple[Any, Mapping[str, str]]:
        trusted = cached_origin(trusted_url) if scope.allows(trusted_url) else NO_ORIGIN
        response = await client.get(url, extensions={ORIGIN_EXTENSION: trusted})
        body = await response.aread()
        return decode_json_response(response.status_code, response.headers.get, body, url), response.headers

    async def custom(url: str) -> tuple[Any, Mapping[str, str]]:
        return await factory(client=client, url=url, retry_policy=policy).content(), {}

    def page(url: str, trusted_url: str) -> Awaitable[tuple[Any, Mapping[str, str]]]:
        if builtin or cached_origin(url) != cached_origin(trusted_url):
            return within(timeout, get(url, trusted_url))
        return within(timeout, custom(url))

    return page


if sys.version_info >= (3, 11):

    async def within(seconds: float, awaitable: Awaitable[Any]) -> Any:
        """``await awaitable``, raising ``TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - Python 3.10
    # asyncio.wait_for on 3.10/3.11 can swallow a cancel that races with completion; timeout() cannot
    def within(seconds: float, awaitable: Awaitable[Any]) -> Awaitable[Any]:
        return asyncio.wait_for(awaitable, seconds)
