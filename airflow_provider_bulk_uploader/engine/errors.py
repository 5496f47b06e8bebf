"""Exceptions raised by one request attempt, normalised across transports (aiohttp, httpx, custom calls).

Every message is built from a redacted URL, so it is safe to log or to put in a report.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "FetchError",
    "GraphQLError",
    "HTTPStatusError",
    "InvalidJSONError",
    "LongWait",
    "RateLimitBackendError",
    "StaleCredentialsError",
    "TransportError",
]


class FetchError(Exception):
    """One attempt at one URL failed.

    :param url: the URL, already redacted.
    :param status: the HTTP status, or ``None`` when no response arrived.
    :param retry_after: seconds the server asked us to wait (``Retry-After``), if any, capped at
        ``defaults.MAX_RETRY_AFTER_SECONDS`` (what a retry waits).
    :param requested_wait: the same wait before that cap (what ``UploadedData(max_wait=...)`` compares);
        defaults to ``retry_after``.
    """

    #: Whether the default retry policy retries this error.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status: int | None = None,
        retry_after: float | None = None,
        requested_wait: float | None = None,
    ):
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after
        self.requested_wait = retry_after if requested_wait is None else requested_wait


class HTTPStatusError(FetchError):
    """The server answered with a non-2xx status. 408, 429 and 5xx are retryable."""

    def __init__(
        self,
        *,
        url: str,
        status: int,
        retry_after: float | None = None,
        reason: str = "",
        requested_wait: float | None = None,
        method: str = "GET",
    ):
        text = f"HTTP {status}{' ' + reason if reason else ''} for {method} {url}"
        if retry_after is not None:
            text += f" (Retry-After {retry_after:g} s)"
        super().__init__(text, url=url, status=status, retry_after=retry_after, requested_wait=requested_wait)
        self.retryable = status in (408, 429) or status >= 500


class StaleCredentialsError(HTTPStatusError):
    """A 401 to a request sent with credentials that have since been replaced or were just invalidated
    (an OAuth2 access token revoked mid-run): the engine sends the request once more, with the new ones,
    under a rate-limit slot of its own. A 401 to that second attempt is an ordinary (non-retryable) 401."""

    def __init__(self, *, url: str):
        super().__init__(url=url, status=401, reason="(credentials refreshed: sending it once more)")


class TransportError(FetchError):
    """No usable response: connect/read error, timeout, dropped connection, too many redirects.

    :param not_sent: the request never left (the connection was refused or could not be made): a
        non-idempotent request may be sent again (see :func:`~.requests.resend_safe`).
    """

    retryable = True

    def __init__(self, message: str, *, url: str, not_sent: bool = False, **kwargs: Any):
        super().__init__(message, url=url, **kwargs)
        self.not_sent = not_sent


class InvalidJSONError(FetchError):
    """A 2xx response whose body is not valid JSON. Not retried: the server said it succeeded."""


class GraphQLError(FetchError):
    """A GraphQL response with an ``errors`` array and no data: the query failed (the message names the
    server's first error). Not retried: the same query gets the same answer."""


class LongWait(Exception):
    """The run stopped because it had to pause longer than ``UploadedData(max_wait=...)``.

    Raised by :meth:`UploadedData.run` after the records already fetched were handed to the store and the
    store flushed: nothing fetched is lost, and the URLs not yet stored can be fetched again from ``until``
    (an Airflow operator defers to the triggerer until then instead of sleeping in a worker slot).

    :param until: wall-clock time (``time.time()`` seconds since the epoch) from which requests may resume.
    :param seconds: the pause that was asked for, in seconds (not capped).
    :param url: the redacted URL whose answer asked for it (``None`` for a shared cool-down).
    """

    def __init__(self, *, until: float, seconds: float, url: str | None = None):
        where = f" (from {url})" if url else ""
        super().__init__(
            f"a {seconds:g} s pause{where} is longer than max_wait; the run stopped to resume later"
        )
        self.until = until
        self.seconds = seconds
        self.url = url
        #: the run's :class:`~.report.FetchReport` up to the stop (set by ``UploadedData.run``)
        self.report: Any = None


class RateLimitBackendError(RuntimeError):
    """The store of a shared rate limit (Redis) is unreachable: the whole run stops (what succeeded is still
    flushed) rather than send requests no limiter counted. Not a :class:`FetchError`: no URL is at fault."""


class AuthenticationError(RuntimeError):
    """No credentials could be had for the run (the OAuth2 token endpoint refused the client, failed, or
    answered without an access token): the whole run stops, as no request could succeed. Not a
    :class:`FetchError`: no URL is at fault. The message names the token URL, never a secret.

    :param url: the (redacted) URL of the endpoint that failed.
    :param status: its HTTP status, or ``None`` when no response arrived.
    :param error: the OAuth2 ``error`` code it answered (``invalid_client`` …), if any.
    """

    def __init__(self, message: str, *, url: str, status: int | None = None, error: str | None = None):
        super().__init__(message)
        self.url = url
        self.status = status
        self.error = error
