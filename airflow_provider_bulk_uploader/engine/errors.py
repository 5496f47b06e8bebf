"""Exceptions raised by one request attempt, normalised across transports (aiohttp, httpx, custom calls).

Every message is built from a redacted URL, so it is safe to log or to put in a report.
"""

from __future__ import annotations

__all__ = ["FetchError", "HTTPStatusError", "InvalidJSONError", "RateLimitBackendError", "TransportError"]


class FetchError(Exception):
    """One attempt at one URL failed.

    :param url: the URL, already redacted.
    :param status: the HTTP status, or ``None`` when no response arrived.
    :param retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    #: Whether the default retry policy retries this error.
    retryable: bool = False

    def __init__(
        self, message: str, *, url: str, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.url = url
        self.status = status
        self.retry_after = retry_after


class HTTPStatusError(FetchError):
    """The server answered with a non-2xx status. 408, 429 and 5xx are retryable."""

    def __init__(self, *, url: str, status: int, retry_after: float | None = None, reason: str = ""):
        text = f"HTTP {status}{' ' + reason if reason else ''} for GET {url}"
        if retry_after is not None:
            text += f" (Retry-After {retry_after:g} s)"
        super().__init__(text, url=url, status=status, retry_after=retry_after)
        self.retryable = status in (408, 429) or status >= 500


class TransportError(FetchError):
    """No usable response: connect/read error, timeout, dropped connection, too many redirects."""

    retryable = True


class InvalidJSONError(FetchError):
    """A 2xx response whose body is not valid JSON. Not retried: the server said it succeeded."""


class RateLimitBackendError(RuntimeError):
    """The store of a shared rate limit (Redis) is unreachable: the whole run stops (what succeeded is still
    flushed) rather than send requests no limiter counted. Not a :class:`FetchError`: no URL is at fault."""
