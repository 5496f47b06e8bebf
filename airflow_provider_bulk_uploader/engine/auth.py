"""Built-in credentials: a header, a query parameter, a bearer token, HTTP basic.

All are :class:`httpx.Auth` flows (so they plug into any ``httpx.AsyncClient``) and also expose their
credentials as static mappings for the fast transport. None of them shows its secret in ``repr()``, and
each registers its secret with :mod:`~airflow_provider_bulk_uploader.engine.redaction` on construction.

Credentials are only ever sent to the origin (scheme, host, port) of the URL a request was made for:
on a redirect to another origin they are stripped (see :class:`CrossOriginGuard`). httpx alone strips only
``Authorization``; custom headers and query parameters would follow the redirect.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Generator, Mapping

import httpx

from .redaction import REDACTED, register_secret, register_sensitive_param

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "CredentialAuth",
    "HeaderAuth",
    "QueryParamsAuth",
    "is_sensitive_header",
]

#: ``httpx.Request.extensions`` key holding the origin of the URL a request chain was made for.
ORIGIN_EXTENSION = "bulk_uploader_origin"
#: Header names never sent to another origin on a redirect, even when passed as plain extra headers.
_SENSITIVE_HEADER = re.compile(
    r"authorization|cookie|token|secret|api[-_]?key|password|signature|session", re.I
)


def is_sensitive_header(name: str) -> bool:
    """Whether header ``name`` looks like a credential (``Authorization``, ``Cookie``, ``X-API-Key`` …)."""
    return bool(_SENSITIVE_HEADER.search(name))


def _require_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        shown = "''" if value == "" else type(value).__name__
        raise ValueError(f"{name} must be a non-empty string, got {shown}")
    return value


class CredentialAuth(httpx.Auth):
    """Base class: credentials that are the same on every request (headers and/or query parameters)."""

    #: Headers added to each request (name -> value).
    credential_headers: Mapping[str, str] = {}
    #: Query parameters added to each request (name -> value).
    credential_params: Mapping[str, str] = {}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for name, value in self.credential_headers.items():
            request.headers[name] = value
        if self.credential_params:
            request.url = request.url.copy_merge_params(dict(self.credential_params))
        yield request

    def strip(self, request: httpx.Request) -> None:
        """Remove this object's credentials from ``request`` (used on cross-origin redirects)."""
        for name in self.credential_headers:
            request.headers.pop(name, None)
        if self.credential_params:
            params = [(k, v) for k, v in request.url.params.multi_items() if k not in self.credential_params]
            request.url = request.url.copy_with(params=params)


class HeaderAuth(CredentialAuth):
    """Send ``token`` in header ``header_name`` (e.g. ``HeaderAuth("X-API-Key", "s3cr3t")``).

    ``token`` is sent as given: for a bearer token write ``"Bearer abc"`` or use :class:`BearerAuth`.
    """

    def __init__(self, header_name: str, token: str):
        self.header_name = _require_text("header_name", header_name)
        self._token = _require_text("token", token)
        register_secret(token)
        self.credential_headers = {self.header_name: self._token}

    def __repr__(self) -> str:
        return f"HeaderAuth(header_name={self.header_name!r}, token='{REDACTED}')"


class QueryParamsAuth(CredentialAuth):
    """Send ``token`` as query parameter ``query_string`` (e.g. ``?api_key=...``).

    The parameter name is registered as sensitive, so its value is redacted wherever a URL is shown.
    """

    def __init__(self, query_string: str, token: str):
        self.query_string = _require_text("query_string", query_string)
        self._token = _require_text("token", token)
        register_secret(token)
        register_sensitive_param(self.query_string)
        self.credential_params = {self.query_string: self._token}

    def __repr__(self) -> str:
        return f"QueryParamsAuth(query_string={self.query_string!r}, token='{REDACTED}')"


class BearerAuth(CredentialAuth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str):
        self._token = _require_text("token", token)
        register_secret(token)
        self.credential_headers = {"Authorization": f"Bearer {self._token}"}

    def __repr__(self) -> str:
        return f"BearerAuth(token='{REDACTED}')"


class BasicAuth(CredentialAuth):
    """HTTP basic authentication (``Authorization: Basic base64(username:password)``)."""

    def __init__(self, username: str, password: str):
        self.username = _require_text("username", username)
        self._password = _require_text("password", password)
        register_secret(password)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        register_secret(encoded)
        self.credential_headers = {"Authorization": f"Basic {encoded}"}

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='{REDACTED}')"


def origin_of(url: httpx.URL | str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with default ports filled in, for same-origin checks."""
    u = httpx.URL(url) if isinstance(url, str) else url
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return (u.scheme, u.host, port)


class CrossOriginGuard(httpx.AsyncBaseTransport):
    """Wraps an httpx transport so that a request chain (the first request and the redirects httpx follows)
    sends credentials only to the origin of its first URL.

    On a hop to another origin it strips ``auth``'s credentials and every credential-like header (see
    :func:`is_sensitive_header`; httpx alone strips only ``Authorization``). On a same-origin hop it
    re-adds ``auth``'s query parameters, which httpx would otherwise drop (it builds the redirected URL from
    ``Location`` and runs the auth flow only once).
    """

    def __init__(self, transport: httpx.AsyncBaseTransport, auth: CredentialAuth | None):
        self._transport = transport
        self._auth = auth

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        issued_for = request.extensions.get(ORIGIN_EXTENSION)
        if issued_for is None:  # the first request of a chain: httpx copies extensions to its redirects
            request.extensions = {**request.extensions, ORIGIN_EXTENSION: origin_of(request.url)}
        elif origin_of(request.url) != issued_for:
            if self._auth is not None:
                self._auth.strip(request)
            for name in [n for n in request.headers if is_sensitive_header(n)]:
                del request.headers[name]
        elif self._auth is not None and self._auth.credential_params:
            params = request.url.params
            if any(params.get(k) != v for k, v in self._auth.credential_params.items()):
                request.url = request.url.copy_merge_params(dict(self._auth.credential_params))
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()
