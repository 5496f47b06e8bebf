"""The fast transport under the built-in :class:`~airflow_provider_bulk_uploader.engine.api_calls.GetAPICall`.

One ``aiohttp.ClientSession`` whose connection pool is sized to the run's concurrency. Measured on this
project's benchmark (``benchmarks/throughput.py``), httpx's request/response layer and httpcore's pool
cost several times more CPU per request than aiohttp's, so the built-in GET bypasses them; custom
``APICall`` factories still receive an ``httpx.AsyncClient``.

Redirects are followed here (not by aiohttp) so that credentials are only sent to the origin of the URL
the request was made for: a hop to another scheme/host/port gets neither the auth headers nor the auth
query parameters. With a :class:`~.auth.CredentialScope`, a request whose URL is outside the scope is sent
without credentials from the start.

Credentials that change during a run (:class:`~.auth.DynamicCredentialAuth`, e.g. an OAuth2 access token)
are asked for per request that carries them (``await current()``, outside the error mapping so that an
:class:`~.errors.AuthenticationError` stops the run); the hop that carried them reports its answer
(``accepted`` on 2xx/3xx, ``rejected`` on a 401, which raises :class:`~.errors.StaleCredentialsError` for the
engine to send the request once more).

Both backends agree on the rest: at most ``defaults.MAX_REDIRECTS`` hops, ``Accept-Encoding`` is
``defaults.ACCEPT_ENCODING`` (the encodings both can decode), and a response in another encoding fails
with the same :class:`~.errors.InvalidJSONError`.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import urlencode, urljoin

from . import defaults
from .auth import Credentials, CredentialScope, DynamicCredentialAuth, is_sensitive_header
from .errors import StaleCredentialsError, TransportError
from .redaction import redact_url
from .requests import Request, check_graphql, encode_body
from .responses import check_content_encoding, decode_json_response, to_fetch_error
from .urls import Origin, append_query, cached_origin, origin_of

__all__ = ["AiohttpTransport"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


class AiohttpTransport:
    """GET-and-decode over aiohttp.

    :param max_connections: size of the connection pool (the engine passes its ``max_concurrency``).
    :param timeout: seconds for one attempt, connect to last byte.
    :param headers: headers sent on every request (not credentials: those go in ``credential_headers``).
    :param credential_headers: / :param credential_params: sent only to the request URL's own origin.
    :param verify_ssl: verify TLS certificates (default ``True``).
    :param max_redirects: redirects followed per request (default ``defaults.MAX_REDIRECTS``, as httpx).
    :param scope: origins that may receive credentials (default: any request URL's own origin).
    :param dynamic: credentials that change during the run, asked for per request (instead of, or on top
        of, ``credential_headers``).
    """

    def __init__(
        self,
        *,
        max_connections: int,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        credential_headers: Mapping[str, str] | None = None,
        credential_params: Mapping[str, str] | None = None,
        verify_ssl: bool = True,
        max_redirects: int = defaults.MAX_REDIRECTS,
        scope: CredentialScope | None = None,
        dynamic: DynamicCredentialAuth | None = None,
    ):
        import aiohttp  # imported here: ~0.2 s that engine users on the httpx backend never pay

        self._aiohttp = aiohttp
        self._max_redirects = max_redirects
        self._scope = scope if scope is not None and scope.origins is not None else None
        extra, credentials = dict(headers or {}), dict(credential_headers or {})
        # None rather than {} spares aiohttp a header merge per request
        self._auth_headers = {**extra, **credentials} or None
        # what a hop to another origin may carry: no credentials, no credential-like extra headers
        self._plain_headers = {
            k: v for k, v in extra.items() if k not in credentials and not is_sensitive_header(k)
        } or None
        self._auth_query = urlencode(dict(credential_params)) if credential_params else ""
        self._dynamic = dynamic
        # the headers for the dynamic credentials last seen: merged once per new token, not per request
        self._merged_for: Credentials | None = None
        self._merged: dict[str, str] = {}
        connector = aiohttp.TCPConnector(
            limit=max_connections, limit_per_host=0, ssl=bool(verify_ssl), ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            # session defaults cost nothing per request (aiohttp starts every request's headers from them);
            # a per-request Accept-Encoding in ``headers`` still wins
            headers={"Accept-Encoding": defaults.ACCEPT_ENCODING},
            # reading the proxy variables costs ~10 µs a request; only pay it when one is set
            trust_env=any(os.environ.get(name) for name in _PROXY_VARIABLES),
        )
        # aiohttp silently re-sends an idempotent request once when a reused connection drops
        # (ServerDisconnectedError): a second arrival at the server that neither the rate limiter nor the
        # report would see. Retries are the engine's job; there is no public switch, so turn it off here.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False

    def _with_credentials(self, url: str) -> str:
        return append_query(url, self._auth_query) if self._auth_query else url

    def get_json(self, url: str) -> Awaitable[Any]:
        """GET ``url`` (following redirects) and return its parsed JSON body; raise a ``FetchError``.

        (Plain functions that return :meth:`_get`'s coroutine, here and in :meth:`get_page`: no second
        coroutine per request.)"""
        return self._get(url, self._scope is None or self._scope.allows(url), None, with_headers=False)

    def get_page(self, url: str, trusted_url: str) -> Awaitable[tuple[Any, Mapping[str, str]]]:
        """GET one page of a paginated stream: ``(parsed JSON body, response headers)``.

        Credentials go only to hops on the origin of ``trusted_url`` (the stream's start URL), and only when
        the scope allows it: a ``next`` link to another origin is fetched without them, and so is every
        redirect hop off that origin."""
        trusted = cached_origin(trusted_url)  # parsed once per stream, not twice per page
        credentials = cached_origin(url) == trusted and (self._scope is None or self._scope.allows(url))
        return self._get(url, credentials, trusted)

    async def _get(
        self, url: str, credentials: bool, origin: Origin | None, *, with_headers: bool = True
    ) -> Any:
        """GET ``url`` and follow redirects: ``(parsed JSON body, response headers)``, or the body alone
        without ``with_headers``.

        :param credentials: whether ``url`` itself gets the credentials.
        :param origin: the only origin a redirect hop may send them to (``None``: ``url``'s own).
        """
        target, send = url, credentials
        auth_headers, current = self._auth_headers, None
        if self._dynamic is not None:  # before the try: an AuthenticationError (no token) stops the run
            auth_headers, current = await self._credentials(credentials)
        try:
            for _hop in range(self._max_redirects + 1):
                async with self._session.get(
                    self._with_credentials(target) if send else target,
                    headers=auth_headers if send else self._plain_headers,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    if current is not None and send:  # this hop carried the dynamic credentials
                        await self._observe(current, response, url)
                    location = response.headers.get("Location") if status in _REDIRECTS else None
                    if location is None:
                        headers = response.headers
                        if "Content-Encoding" in headers:  # aiohttp decodes gzip and deflate only
                            check_content_encoding(status, headers.get, target)
                        data = decode_json_response(status, headers.get, await response.read(), target)
                        return (data, headers) if with_headers else data
                if origin is None:  # computed only on a redirect: the hot path never pays it
                    origin = origin_of(url)
                target = urljoin(target, location)
                send = credentials and origin_of(target) == origin
            raise TransportError(
                f"more than {self._max_redirects} redirects for GET {redact_url(url)}", url=redact_url(url)
            )
        except Exception as exc:
            raise to_fetch_error(exc, url) from None

    async def _credentials(self, send: bool) -> tuple[dict[str, str] | None, Credentials | None]:
        """The headers a hop that may carry credentials sends, and the dynamic credentials among them
        (``None`` for static ones): :class:`~.auth.DynamicCredentialAuth` is asked once per request."""
        dynamic = self._dynamic
        if dynamic is None or not send:
            return self._auth_headers, None
        current = await dynamic.current()
        if current is not self._merged_for:
            self._merged = {**(self._auth_headers or {}), **current.headers}
            self._merged_for = current
        return self._merged, current

    async def _observe(self, current: Credentials, response: Any, url: str) -> None:
        """Tell the dynamic auth how the server took ``current``; a 401 to credentials it has renewed since
        raises :class:`~.errors.StaleCredentialsError` (the request is sent once more)."""
        dynamic = self._dynamic
        assert dynamic is not None
        status = response.status
        if status == 401:
            if dynamic.rejected(current):
                await response.read()  # keep the connection
                raise StaleCredentialsError(url=redact_url(url))
        elif status < 400 and not current.accepted:
            dynamic.accepted(current)

    async def send(self, request: Request, trusted_url: str | None = None) -> tuple[Any, Mapping[str, str]]:
        """Send ``request`` (any method, its body and headers), following redirects as httpx does (a 303,
        and a 301/302 after a POST, continue as a body-less GET; 307/308 repeat the method and body):
        ``(parsed JSON body, response headers)``; raise a ``FetchError``.

        Credentials follow the same rule as a GET: only to hops on the origin of ``trusted_url`` (default:
        the request's own URL) and only when the scope allows it. The request's own headers go with it;
        a credential-like one is dropped on a hop to another origin."""
        url, method = request.url, request.method
        trusted = origin_of(trusted_url if trusted_url is not None else url)
        send = origin_of(url) == trusted and (self._scope is None or self._scope.allows(url))
        body, content_type = encode_body(request)
        extra = dict(request.headers)
        if content_type is not None and not any(k.lower() == "content-type" for k in extra):
            extra["Content-Type"] = content_type
        target = url
        auth_headers, current = await self._credentials(send)
        try:
            for _hop in range(self._max_redirects + 1):
                base = auth_headers if send else self._plain_headers
                headers = {**(base or {}), **(extra if send else _plain(extra))}
                async with self._session.request(
                    method,
                    self._with_credentials(target) if send else target,
                    data=body,
                    headers=headers or None,
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    if current is not None and send:  # this hop carried the dynamic credentials
                        await self._observe(current, response, url)
                    location = response.headers.get("Location") if status in _REDIRECTS else None
                    if location is None:
                        check_content_encoding(status, response.headers.get, target, method)
                        raw = await response.read()
                        data = decode_json_response(status, response.headers.get, raw, target, method)
                        if request.is_graphql:
                            check_graphql(request, data)
                        return data, response.headers
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, body = "GET", None  # what httpx (and browsers) do
                    extra = {k: v for k, v in extra.items() if k.lower() != "content-type"}
                target = urljoin(target, location)
                send = send and origin_of(target) == trusted
            raise TransportError(
                f"more than {self._max_redirects} redirects for {method} {redact_url(url)}",
                url=redact_url(url),
            )
        except Exception as exc:
            raise to_fetch_error(exc, url, request.method) from None

    async def aclose(self) -> None:
        await self._session.close()


def _plain(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` without the credential-like ones (what a hop to another origin may carry)."""
    return {k: v for k, v in headers.items() if not is_sensitive_header(k)}
