"""OAuth2 client credentials (RFC 6749 §4.4): an access token from a token endpoint, fetched once, cached,
renewed before it runs out and after a 401 — on both backends.

``OAuth2ClientCredentials("https://login.example.com/oauth2/token", "my-client", secret, scope="read")`` is
an auth like the static ones (``UploadedData(...).run(auth=auth)``):

* **Single flight.** The first request of a run fetches the token (``POST token_url``,
  ``grant_type=client_credentials``); every request that needs it meanwhile waits for that one fetch.
* **Renewal.** The token is renewed a margin before its ``expires_in`` runs out: ``refresh_margin`` seconds
  (default 60) or 10 % of its lifetime when that is shorter (a 2 s token 0.2 s early). While one request
  renews it, the others go on with the old token until half of the margin is left. Without ``expires_in``
  the token is kept until the API refuses it.
* **401.** A 401 to a token the API took before (revoked mid-run): the token is dropped, the next request
  fetches a new one — once, however many requests got the 401 — and the engine sends each of those requests
  once more, each under a rate-limit slot of its own. A 401 to a token that never worked (a wrong audience
  or scope) is an ordinary 401: a new token would not help, so none is fetched per failing URL.
* **The token endpoint.** A 429/503 waits its ``Retry-After`` (capped at ``MAX_RETRY_AFTER_SECONDS``),
  a 408/5xx or a dropped connection is tried again with backoff, up to ``max_attempts`` tries (default 5); a
  4xx, a redirect (not followed), or an answer without ``access_token`` raises
  :class:`~.errors.AuthenticationError` naming the token URL: the run stops. Token requests are not API
  requests: the run's rate limit, retries and report do not count them.
* **Security.** The client secret goes only to ``token_url`` (https unless loopback; no redirect is
  followed), the access token only where the run sends credentials (its origin and ``credential_origins``:
  the token is a credential like any other). Both are registered for redaction (the secret at
  construction, each token before anything else is done with it) and never appear in ``repr()`` or errors.

The token cache belongs to one event loop: a run on another loop fetches its own token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from . import defaults
from .auth import Credentials, DynamicCredentialAuth
from .errors import AuthenticationError
from .redaction import REDACTED, redact, redact_url, register_secret
from .retries import pause_after
from .validation import require_bool, require_https_url, require_int, require_seconds, require_text

__all__ = ["AccessToken", "OAuth2ClientCredentials"]

logger = logging.getLogger("airflow_provider_bulk_uploader")

TOKEN_AUTH_METHODS = defaults.OAUTH2_TOKEN_AUTH_METHODS
#: Token-request parameters the engine sets itself (``scope``/``audience`` have their own arguments).
_RESERVED_PARAMS = frozenset({"grant_type", "client_id", "client_secret", "scope", "audience"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What an OAuth2 ``error`` code may look like when shown (RFC 6749 §5.2: printable ASCII, no quotes).
_ERROR_CODE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")
_HINTS = {
    "invalid_client": "the client id or secret is wrong, or the client may not authenticate with {method}",
    "unauthorized_client": "this client may not use the client-credentials grant",
    "invalid_scope": "the scope asked for ({scope}) is not allowed for this client",
    "unsupported_grant_type": "the server does not offer the client-credentials grant at this URL",
}

#: A step of the token-request flow: a request to send, or seconds to wait before the next try.
_Step = httpx.Request | float


class AccessToken(Credentials):
    """An access token as the engine holds it: ``Authorization: Bearer …`` and when to renew it.

    :attr lifetime_seconds: the ``expires_in`` it came with (``None``: none given).
    """

    __slots__ = ("lifetime_seconds", "refresh_at", "stale", "usable_until")

    def __init__(
        self, value: str, lifetime_seconds: float | None, refresh_at: float, usable_until: float
    ) -> None:
        super().__init__({"Authorization": f"Bearer {value}"})
        self.lifetime_seconds = lifetime_seconds
        #: clock time (the loop's, or ``time.monotonic()``) from which it is renewed
        self.refresh_at = refresh_at
        #: clock time until which it may still be sent while another request renews it
        self.usable_until = usable_until
        #: set after a 401 to it: the next request renews it
        self.stale = False

    def __repr__(self) -> str:
        return (
            f"AccessToken('{REDACTED}', lifetime_seconds={self.lifetime_seconds}, accepted={self.accepted})"
        )


class OAuth2ClientCredentials(DynamicCredentialAuth):
    """OAuth2 client-credentials grant: a bearer token from ``token_url`` (see the module docstring).

    :param token_url: the authorization server's token endpoint; ``https://`` (``http://`` only on loopback).
    :param client_id: / :param client_secret: the client's credentials (the secret is never shown).
    :param scope: space-separated scopes to ask for (a string, or an iterable of scopes); ``None``
        (default): the server's default.
    :param audience: the ``audience`` parameter some servers need (Auth0, Okta …); default ``None``.
    :param token_auth_method: ``"client_secret_basic"`` (default: HTTP Basic with the form-encoded id and
        secret) or ``"client_secret_post"`` (both in the form body).
    :param token_params: other form parameters of the token request (``{"resource": "https://…"}``);
        not ``grant_type``, ``client_id``, ``client_secret``, ``scope`` or ``audience``.
    :param refresh_margin: seconds before ``expires_in`` runs out at which the token is renewed (default
        ``defaults.OAUTH2_REFRESH_MARGIN_SECONDS`` = 60), at most 10 % of the token's lifetime.
    :param timeout: seconds for one token request, connect to last byte (default 30).
    :param verify_ssl: verify the token endpoint's TLS certificate (default ``True``).
    :param max_attempts: tries at the token endpoint before the run fails (default 5).
    :param on_token: called with every new access token as soon as it arrives (before it is used), e.g.
        Airflow's ``mask_secret``; the engine's own redaction registers it anyway.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | Iterable[str] | None = None,
        audience: str | None = None,
        token_auth_method: str = defaults.OAUTH2_TOKEN_AUTH_METHOD,
        token_params: Mapping[str, str] | None = None,
        refresh_margin: float = defaults.OAUTH2_REFRESH_MARGIN_SECONDS,
        timeout: float = defaults.TIMEOUT_SECONDS,
        verify_ssl: bool = True,
        max_attempts: int = defaults.OAUTH2_TOKEN_MAX_ATTEMPTS,
        on_token: Callable[[str], Any] | None = None,
    ):
        self.client_id = require_text("client_id", client_id)
        self._client_secret = require_text("client_secret", client_secret)
        register_secret(client_secret)
        self.token_url = require_https_url("token_url", token_url)
        if token_auth_method not in TOKEN_AUTH_METHODS:
            raise ValueError(
                f"token_auth_method must be one of {TOKEN_AUTH_METHODS}, got {token_auth_method!r}"
            )
        self.token_auth_method = token_auth_method
        self.scope = _scope(scope)
        self.audience = None if audience is None else require_text("audience", audience)
        self.token_params = _token_params(token_params)
        self.refresh_margin = require_seconds("refresh_margin", refresh_margin, allow_zero=True)
        self.timeout = require_seconds("timeout", timeout)
        self.verify_ssl = require_bool("verify_ssl", verify_ssl)
        self.max_attempts = require_int("max_attempts", max_attempts, 1)
        if on_token is not None and not callable(on_token):
            raise TypeError(f"on_token must be callable or None, got {type(on_token).__name__}")
        self._on_token = on_token
        self._shown_url = redact_url(self.token_url)
        self._body, self._headers = self._token_request_parts()
        self._token: AccessToken | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        #: fetches finished (either way) on this loop, and the error of the last one if it failed: what the
        #: requests that waited for it raise instead of trying again one by one
        self._fetches = 0
        self._failure: AuthenticationError | None = None
        self._sync_lock = threading.Lock()
        self._ssl: ssl.SSLContext | bool | None = None
        #: token requests sent (every try), since construction
        self.token_requests = 0
        #: access tokens received, since construction
        self.tokens_received = 0

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(token_url={self._shown_url!r}, client_id={self.client_id!r}, "
            f"client_secret='{REDACTED}', scope={self.scope!r}, token_auth_method={self.token_auth_method!r})"
        )

    # -- the dynamic-credentials interface --------------------------------------------------------------

    async def current(self) -> AccessToken:
        """The access token to send now: the cached one, or one fetched (by one request for all)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new run on another loop: its own lock, and its own clock
            self._loop, self._lock, self._token, self._failure = loop, asyncio.Lock(), None, None
        lock = self._lock
        assert lock is not None
        token = self._token
        if token is not None and not token.stale:
            now = loop.time()
            if now < token.refresh_at or (now < token.usable_until and lock.locked()):
                return token  # fresh, or being renewed by another request while still good
        fetches = self._fetches
        async with lock:
            token = self._token
            if token is not None and not token.stale and loop.time() < token.refresh_at:
                return token  # renewed while this request waited
            if self._fetches != fetches and self._failure is not None:
                raise self._failure  # the fetch this request waited for failed: the same error, no new try
            try:
                token = await self._fetch(loop.time)
            except AuthenticationError as exc:
                self._failure = exc
                raise
            finally:
                self._fetches += 1
            self._token, self._failure = token, None
            return token

    def current_sync(self) -> AccessToken:
        """:meth:`current` without an event loop (a synchronous ``httpx.Client``, the connection test)."""
        with self._sync_lock:
            token = self._token if self._loop is None else None
            if token is not None and not token.stale and time.monotonic() < token.refresh_at:
                return token
            token = self._fetch_sync()
            self._token, self._loop = token, None
            return token

    def rejected(self, credentials: Credentials) -> bool:
        """A 401 to ``credentials``: send the request again when a newer token exists or the refused one
        worked before (it is then renewed by the next request); not when it never worked."""
        token = self._token
        if token is not credentials:
            return True
        if not credentials.accepted:
            return False
        if not token.stale:
            token.stale = True
            logger.warning(
                "the API answered 401 to an OAuth2 access token it took before (revoked?): fetching a new "
                "one from %s and sending the refused requests once more",
                self._shown_url,
            )
        return True

    # -- the token request --------------------------------------------------------------------------------

    def _token_request_parts(self) -> tuple[bytes, dict[str, str]]:
        """The form body and headers of every token request (built once; the secrets in them registered)."""
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        if self.audience:
            form["audience"] = self.audience
        form.update(self.token_params)
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        if self.token_auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: the id and the secret are form-encoded before they are joined and base64-ed
            pair = f"{quote(self.client_id, safe='')}:{quote(self._client_secret, safe='')}"
            encoded = base64.b64encode(pair.encode()).decode("ascii")
            register_secret(encoded)
            headers["Authorization"] = f"Basic {encoded}"
        else:
            form["client_id"] = self.client_id
            form["client_secret"] = self._client_secret
        return urlencode(form).encode("ascii"), headers

    def _request(self) -> httpx.Request:
        return httpx.Request("POST", self.token_url, headers=self._headers, content=self._body)

    def _verify(self) -> ssl.SSLContext | bool:
        if self._ssl is None:  # built once: loading the CA bundle costs ~50 ms
            self._ssl = httpx.create_ssl_context() if self.verify_ssl else False
        return self._ssl

    async def _fetch(self, now: Callable[[], float]) -> AccessToken:
        flow = self._flow(now)
        step = next(flow)
        async with httpx.AsyncClient(
            verify=self._verify(), timeout=self.timeout, follow_redirects=False
        ) as client:
            while True:
                try:
                    if isinstance(step, float):
                        await asyncio.sleep(step)
                        step = flow.send(None)
                        continue
                    try:
                        response = await client.send(step)
                    except httpx.HTTPError as exc:
                        step = flow.throw(exc)
                    else:
                        step = flow.send(response)
                except StopIteration as done:
                    return done.value

    def _fetch_sync(self) -> AccessToken:
        flow = self._flow(time.monotonic)
        step = next(flow)
        with httpx.Client(verify=self._verify(), timeout=self.timeout, follow_redirects=False) as client:
            while True:
                try:
                    if isinstance(step, float):
                        time.sleep(step)
                        step = flow.send(None)
                        continue
                    try:
                        response = client.send(step)
                    except httpx.HTTPError as exc:
                        step = flow.throw(exc)
                    else:
                        step = flow.send(response)
                except StopIteration as done:
                    return done.value

    def _flow(self, now: Callable[[], float]) -> Generator[_Step, httpx.Response | None, AccessToken]:
        """Tries at the token endpoint, without I/O: yields the request to send (and receives its response,
        or has the transport error thrown in) or the seconds to wait; returns the token."""
        shown = self._shown_url
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            sent_at = now()
            self.token_requests += 1
            try:
                response = yield self._request()
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {redact(str(exc))}".rstrip(": ")
                if last:
                    raise AuthenticationError(
                        f"OAuth2 token request to {shown} failed {attempt} time(s), last: {problem}",
                        url=shown,
                    ) from None
                wait = _backoff(attempt)
                logger.warning(
                    "OAuth2 token request to %s failed (%s): trying again in %.1f s (try %d of %d)",
                    shown,
                    problem,
                    wait,
                    attempt + 1,
                    self.max_attempts,
                )
                yield wait
                continue
            assert response is not None
            status = response.status_code
            if 200 <= status < 300:
                return self._token_from(response, sent_at)
            if status in (408, 429) or status >= 500:
                if last:
                    raise AuthenticationError(
                        f"OAuth2 token request to {shown} answered HTTP {status} {response.reason_phrase} "
                        f"{attempt} time(s); giving up",
                        url=shown,
                        status=status,
                    )
                asked = pause_after(status, response.headers.get)
                wait = asked if asked is not None else _backoff(attempt)
                logger.warning(
                    "OAuth2 token request to %s answered HTTP %d: trying again in %.1f s (try %d of %d)",
                    shown,
                    status,
                    wait,
                    attempt + 1,
                    self.max_attempts,
                )
                yield float(wait)
                continue
            raise self._refused(response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _token_from(self, response: httpx.Response, sent_at: float) -> AccessToken:
        """The token in a 2xx answer (registered for redaction before anything else), or the error."""
        shown, status = self._shown_url, response.status_code
        try:
            body = json.loads(response.content)
        except ValueError:
            kind = response.headers.get("Content-Type", "no Content-Type")
            raise AuthenticationError(
                f"OAuth2 token endpoint {shown} answered HTTP {status} with a body that is not JSON ({kind})",
                url=shown,
                status=status,
            ) from None
        if not isinstance(body, dict):
            raise AuthenticationError(
                f"OAuth2 token endpoint {shown} answered HTTP {status} with a JSON {type(body).__name__}, "
                "not an object with an access_token",
                url=shown,
                status=status,
            )
        for name in ("access_token", "refresh_token", "id_token"):  # whatever secrets it sent
            if isinstance(body.get(name), str):
                register_secret(body[name])
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            keys = ", ".join(sorted(str(k)[:40] for k in body)[:12]) or "none"
            raise AuthenticationError(
                f"OAuth2 token endpoint {shown} answered HTTP {status} without an access_token "
                f"(keys: {keys})",
                url=shown,
                status=status,
            )
        if self._on_token is not None:
            self._on_token(value)
        if _CONTROL.search(value):
            raise AuthenticationError(
                f"OAuth2 token endpoint {shown} answered an access_token with control characters "
                "(a header cannot carry it)",
                url=shown,
                status=status,
            )
        token_type = body.get("token_type")
        if token_type is not None and str(token_type).lower() != "bearer":
            shown_type = str(token_type)[:40]
            raise AuthenticationError(
                f"OAuth2 token endpoint {shown} answered token_type {shown_type!r}: only Bearer tokens are "
                "supported",
                url=shown,
                status=status,
            )
        lifetime = _lifetime(body.get("expires_in"), shown)
        if lifetime is None:
            refresh_at = usable_until = math.inf
        else:
            margin = min(self.refresh_margin, defaults.OAUTH2_REFRESH_MARGIN_FRACTION * lifetime)
            refresh_at = sent_at + lifetime - margin  # counted from the request: the server's clock ran later
            usable_until = sent_at + lifetime - margin / 2
        self.tokens_received += 1
        logger.log(
            logging.INFO if self.tokens_received == 1 else logging.DEBUG,
            "OAuth2: access token %d from %s%s, %s",
            self.tokens_received,
            shown,
            f" (scope {self.scope!r})" if self.scope else "",
            "no expires_in" if lifetime is None else f"expires in {lifetime:g} s",
        )
        return AccessToken(value, lifetime, refresh_at, usable_until)

    def _refused(self, response: httpx.Response) -> AuthenticationError:
        """The error for a non-retryable answer of the token endpoint (its OAuth2 error code, redacted)."""
        shown, status = self._shown_url, response.status_code
        if 300 <= status < 400:
            return AuthenticationError(
                f"OAuth2 token endpoint {shown} answered HTTP {status} (a redirect): not followed, the "
                "client secret goes only to token_url; give the final token URL",
                url=shown,
                status=status,
            )
        code = description = None
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            if isinstance(body.get("error"), str) and _ERROR_CODE.fullmatch(body["error"]):
                code = body["error"]
            if isinstance(body.get("error_description"), str):
                description = redact(_CONTROL.sub(" ", body["error_description"]))[:200]
        text = f"OAuth2 token request to {shown} was refused: HTTP {status} {response.reason_phrase}"
        if code:
            text += f", error {code!r}"
        if description:
            text += f" ({description})"
        hint = _HINTS.get(code or "")
        if hint:
            text += ": " + hint.format(method=self.token_auth_method, scope=self.scope)
        return AuthenticationError(redact(text), url=shown, status=status, error=code)


def _backoff(attempt: int) -> float:
    """Seconds before try ``attempt + 1`` after a failure without ``Retry-After``: 0.5, 1, 2, 4 … (≤ 30)."""
    return float(
        min(defaults.RETRY_MAX_WAIT_SECONDS, defaults.RETRY_INITIAL_WAIT_SECONDS * 2 ** (attempt - 1))
    )


def _lifetime(value: Any, shown_url: str) -> float | None:
    """``expires_in`` in seconds (a number, or a string of one as some servers send), ``None`` when absent
    or unusable (logged: the token is then kept until the API refuses it)."""
    if value is None:
        return None
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        logger.warning(
            "OAuth2 token endpoint %s answered expires_in %r, which is not a positive number of seconds: "
            "the token is kept until the API refuses it",
            shown_url,
            str(value)[:40],
        )
        return None
    return seconds


def _scope(scope: str | Iterable[str] | None) -> str | None:
    if scope is None:
        return None
    if isinstance(scope, str):
        text = " ".join(scope.split())
    elif isinstance(scope, Iterable):
        parts = list(scope)
        if not all(isinstance(p, str) and p.strip() for p in parts):
            raise TypeError("scope must be a string or an iterable of non-empty strings")
        text = " ".join(" ".join(p.split()) for p in parts)
    else:
        raise TypeError(f"scope must be a string, an iterable of strings or None, got {type(scope).__name__}")
    if _CONTROL.search(text):
        raise ValueError("scope must not contain control characters")
    return text or None


def _token_params(params: Mapping[str, str] | None) -> dict[str, str]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(f"token_params must be a mapping of str to str, got {type(params).__name__}")
    checked: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name.strip() or _CONTROL.search(name):
            raise ValueError(f"token_params has an invalid parameter name {name!r}")
        if name in _RESERVED_PARAMS:
            raise ValueError(
                f"token_params must not set {name!r}: the engine sets it"
                + (f" (use the {name}= argument)" if name in ("scope", "audience") else "")
            )
        if not isinstance(value, str):
            raise TypeError(f"token_params[{name!r}] must be a string, got {type(value).__name__}")
        if _CONTROL.search(value):
            raise ValueError(f"token_params[{name!r}] must not contain control characters")
        checked[name] = value
    return checked
