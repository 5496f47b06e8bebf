"""Built-in credentials: a header, a query parameter, a bearer token, HTTP basic — and the interface of
credentials that change during a run (:class:`DynamicCredentialAuth`, e.g. an OAuth2 access token:
:mod:`.oauth2`).

All are :class:`httpx.Auth` flows (so they plug into any ``httpx.AsyncClient``). The static ones also expose
their credentials as mappings for the fast transport; the dynamic ones are asked for them per request (see
:class:`DynamicCredentialAuth`). None of them shows its secret in ``repr()``, and each registers its secret
with :mod:`~airflow_provider_bulk_uploader.engine.redaction` on construction.

Credentials are only ever sent to the origin (scheme, host, port) of the URL a request was made for:
on a redirect to another origin they are stripped (see :class:`CrossOriginGuard`). httpx alone strips only
``Authorization``; custom headers and query parameters would follow the redirect. A run can further limit
the origins that receive credentials at all (:class:`CredentialScope`, ``UploadedData(credential_origins=
...)``): a request to any other origin is sent without them, and the log says so once per origin.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import AsyncGenerator, Generator, Iterable, Mapping

import httpx

from .errors import StaleCredentialsError
from .redaction import REDACTED, redact_url, register_secret, register_sensitive_param
from .urls import Origin, origin_of
from .validation import require_text

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "CredentialAuth",
    "CredentialScope",
    "Credentials",
    "CrossOriginGuard",
    "DynamicCredentialAuth",
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


logger = logging.getLogger("airflow_provider_bulk_uploader")


class CredentialScope:
    """The origins a run may send credentials to; requests elsewhere go without them.

    :param origins: URLs (only their scheme, host and port count), e.g. ``["https://api.example.com"]``;
        ``None`` = no restriction (each request's credentials still never leave its own origin on a redirect).
    """

    def __init__(self, origins: Iterable[str] | None):
        self.origins: frozenset[Origin] | None = (
            None if origins is None else frozenset(origin_of(o) for o in origins)
        )
        self._cache: dict[str, bool] = {}
        self._warned: set[Origin] = set()
        self._lock = threading.Lock()

    def allows(self, url: str) -> bool:
        """Whether ``url``'s origin may receive credentials (logs a WARNING the first time one may not)."""
        if self.origins is None:
            return True
        end = url.find("/", url.find("//") + 2)
        key = url if end < 0 else url[:end]  # scheme://host:port, cached: this runs on every request
        allowed = self._cache.get(key)
        if allowed is None:
            origin = origin_of(key)
            allowed = origin in self.origins
            if len(self._cache) < 1024:
                self._cache[key] = allowed
            if not allowed:
                self._warn_once(origin, url)
        return allowed

    def _warn_once(self, origin: Origin, url: str) -> None:
        with self._lock:
            if origin in self._warned:
                return
            self._warned.add(origin)
        logger.warning(
            "credentials NOT sent to %s (e.g. GET %s): it is not the connection's origin; list it in the "
            "connection extra allowed_origins to send them there",
            f"{origin[0]}://{origin[1]}:{origin[2]}",
            redact_url(url),
        )


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


class Credentials:
    """One value of credentials that change during a run (see :class:`DynamicCredentialAuth`): the headers
    to send, and whether a response has shown that the server takes them."""

    __slots__ = ("accepted", "headers")

    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers: Mapping[str, str] = dict(headers)
        #: set (once) by :meth:`DynamicCredentialAuth.accepted`
        self.accepted = False

    def __repr__(self) -> str:
        return f"Credentials(headers={sorted(self.headers)}, accepted={self.accepted})"


class DynamicCredentialAuth(httpx.Auth):
    """Base class: credentials, sent as headers, that change during a run (an OAuth2 access token).

    The interface both backends use (the httpx auth flow below, and the aiohttp fast path in
    :mod:`.transport`):

    * ``await current()`` before each request that may carry credentials (one inside the run's
      :class:`CredentialScope`): the :class:`Credentials` to send. The subclass fetches, caches and renews
      them — one fetch at a time, however many requests wait for it. It raises
      :class:`~.errors.AuthenticationError` when none can be had: the run stops.
    * ``accepted(credentials)`` after a 2xx/3xx answer to a request that carried them (only while
      ``credentials.accepted`` is false: nothing to pay after the first).
    * ``rejected(credentials)`` after a 401 to a request that carried them: ``True`` when sending the
      request again may succeed (newer credentials exist, or are fetched by the next ``current()``). The
      transport then raises :class:`~.errors.StaleCredentialsError`, which the engine answers by sending the
      request once more under a rate-limit slot of its own. ``False`` when these credentials never worked (a
      wrong audience or scope): an ordinary 401, and no new token per failing URL.

    Outside the engine (a plain ``httpx.AsyncClient(auth=...)``), a 401 that ``rejected`` takes raises
    :class:`~.errors.StaleCredentialsError` from the request: send it again.
    """

    #: Header names the credentials use (stripped from a hop to another origin).
    credential_header_names: frozenset[str] = frozenset({"Authorization"})
    #: Query-parameter credentials: none (what :class:`CrossOriginGuard` re-adds on same-origin hops).
    credential_params: Mapping[str, str] = {}

    async def current(self) -> Credentials:
        """The credentials to send now (see the class docstring)."""
        raise NotImplementedError

    def current_sync(self) -> Credentials:
        """:meth:`current` for a synchronous ``httpx.Client`` (and the connection test)."""
        raise NotImplementedError

    def accepted(self, credentials: Credentials) -> None:
        """A request sent with ``credentials`` was answered 2xx/3xx."""
        credentials.accepted = True

    def rejected(self, credentials: Credentials) -> bool:
        """A request sent with ``credentials`` was answered 401: whether to send it once more."""
        return False

    def strip(self, request: httpx.Request) -> None:
        """Remove this object's credentials from ``request`` (used on cross-origin redirects)."""
        for name in self.credential_header_names:
            request.headers.pop(name, None)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        credentials = await self.current()
        request.headers.update(credentials.headers)
        response = yield request
        self.observe(credentials, request, response)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = self.current_sync()
        request.headers.update(credentials.headers)
        response = yield request
        self.observe(credentials, request, response)

    def observe(self, credentials: Credentials, request: httpx.Request, response: httpx.Response) -> None:
        """Tell :meth:`accepted` / :meth:`rejected` what the hop that answered ``request`` (httpx's last
        redirect) said, when that hop carried ``credentials`` (not a hop to another origin, nor a request
        outside the scope, whose credentials :class:`CrossOriginGuard` stripped)."""
        sent = response.request.headers
        if any(sent.get(name) != value for name, value in credentials.headers.items()):
            return
        status = response.status_code
        if status == 401:
            if self.rejected(credentials):
                raise StaleCredentialsError(url=redact_url(request.url))
        elif status < 400 and not credentials.accepted:
            self.accepted(credentials)


class HeaderAuth(CredentialAuth):
    """Send ``token`` in header ``header_name`` (e.g. ``HeaderAuth("X-API-Key", "s3cr3t")``).

    ``token`` is sent as given: for a bearer token write ``"Bearer abc"`` or use :class:`BearerAuth`.
    """

    def __init__(self, header_name: str, token: str):
        self.header_name = require_text("header_name", header_name)
        self._token = require_text("token", token)
        register_secret(token)
        self.credential_headers = {self.header_name: self._token}

    def __repr__(self) -> str:
        return f"HeaderAuth(header_name={self.header_name!r}, token='{REDACTED}')"


class QueryParamsAuth(CredentialAuth):
    """Send ``token`` as query parameter ``query_string`` (e.g. ``?api_key=...``).

    The parameter name is registered as sensitive, so its value is redacted wherever a URL is shown.
    """

    def __init__(self, query_string: str, token: str):
        self.query_string = require_text("query_string", query_string)
        self._token = require_text("token", token)
        register_secret(token)
        register_sensitive_param(self.query_string)
        self.credential_params = {self.query_string: self._token}

    def __repr__(self) -> str:
        return f"QueryParamsAuth(query_string={self.query_string!r}, token='{REDACTED}')"


class BearerAuth(CredentialAuth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str):
        self._token = require_text("token", token)
        register_secret(token)
        self.credential_headers = {"Authorization": f"Bearer {self._token}"}

    def __repr__(self) -> str:
        return f"BearerAuth(token='{REDACTED}')"


class BasicAuth(CredentialAuth):
    """HTTP basic authentication (``Authorization: Basic base64(username:password)``)."""

    def __init__(self, username: str, password: str):
        self.username = require_text("username", username)
        self._password = require_text("password", password)
        register_secret(password)
        encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        register_secret(encoded)
        self.credential_headers = {"Authorization": f"Basic {encoded}"}

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='{REDACTED}')"


#: What a request chain outside the run's :class:`CredentialScope` is "issued for": no origin matches it.
#: The origin of a request chain that may send credentials nowhere.
NO_ORIGIN: Origin = ("", "", None)


class CrossOriginGuard(httpx.AsyncBaseTransport):
    """Wraps an httpx transport so that a request chain (the first request and the redirects httpx follows)
    sends credentials only to the origin of its first URL.

    On a hop to another origin it strips ``auth``'s credentials and every credential-like header (see
    :func:`is_sensitive_header`; httpx alone strips only ``Authorization``). On a same-origin hop it
    re-adds ``auth``'s query parameters, which httpx would otherwise drop (it builds the redirected URL from
    ``Location`` and runs the auth flow only once). A chain whose first URL is outside ``scope`` gets no
    credentials on any hop.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        auth: CredentialAuth | DynamicCredentialAuth | None,
        scope: CredentialScope | None = None,
    ):
        self._transport = transport
        self._auth = auth
        self._scope = scope

    def _strip(self, request: httpx.Request) -> None:
        if self._auth is not None:
            self._auth.strip(request)
        for name in [n for n in request.headers if is_sensitive_header(n)]:
            del request.headers[name]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        issued_for = request.extensions.get(ORIGIN_EXTENSION)
        if issued_for is None:  # the first request of a chain: httpx copies extensions to its redirects
            url = str(request.url)
            issued_for = origin_of(url) if self._scope is None or self._scope.allows(url) else NO_ORIGIN
            request.extensions = {**request.extensions, ORIGIN_EXTENSION: issued_for}
            if issued_for is NO_ORIGIN:
                self._strip(request)
        elif origin_of(request.url) != issued_for:
            self._strip(request)
        elif self._auth is not None and self._auth.credential_params:
            params = request.url.params
            if any(params.get(k) != v for k, v in self._auth.credential_params.items()):
                request.url = request.url.copy_merge_params(dict(self._auth.credential_params))
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()
