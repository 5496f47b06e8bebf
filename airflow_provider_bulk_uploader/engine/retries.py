"""Retry strategy: what is retried, how long to wait, and the shared cool-down after a 429.

Small composable pieces in tenacity's style:

* :func:`is_retryable` — transport errors (connect/read errors, timeouts, dropped connections), 408, 429
  and 5xx; never other 4xx, never invalid JSON in a 2xx.
* :class:`wait_retry_after` — honour ``Retry-After`` when the server sent one, else fall back to another
  wait (exponential backoff with jitter by default).
* :func:`default_retry_policy` — the two above, bounded attempts, re-raising the last error.
* :class:`CoolDown` — one pause shared by all workers: a 429 stops *every* request until its
  Retry-After has passed, not only the one that received it.

The engine enters tenacity only after a first attempt has failed (wrapping every request in
``AsyncRetrying`` costs ~180 µs of CPU each), so the success path pays nothing for retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)
from tenacity.wait import wait_base

from . import defaults
from .errors import FetchError

__all__ = ["CoolDown", "default_retry_policy", "is_retryable", "parse_retry_after", "wait_retry_after"]

#: Longest Retry-After honoured, in seconds; a larger value is clipped to this.
MAX_RETRY_AFTER_SECONDS = defaults.MAX_RETRY_AFTER_SECONDS


def parse_retry_after(
    value: str | None, *, now: float | None = None, cap: float | None = MAX_RETRY_AFTER_SECONDS
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds (``"120"``) or an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``). ``None`` when absent or unparsable; never negative;
    clipped to ``cap`` (default :data:`MAX_RETRY_AFTER_SECONDS`; ``None``: not clipped)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    seconds = max(seconds, 0.0)
    return seconds if cap is None else min(seconds, cap)


def is_retryable(exc: BaseException) -> bool:
    """The default retry predicate: :class:`FetchError` subclasses say whether they are retryable."""
    return isinstance(exc, FetchError) and exc.retryable


class wait_retry_after(wait_base):
    """Wait what the server asked for in ``Retry-After``; otherwise what ``fallback`` says."""

    def __init__(self, fallback: wait_base):
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return float(self.fallback(retry_state))


def default_retry_policy(
    max_attempts: int = defaults.RETRY_MAX_ATTEMPTS,
    *,
    initial_wait: float = defaults.RETRY_INITIAL_WAIT_SECONDS,
    max_wait: float = defaults.RETRY_MAX_WAIT_SECONDS,
    jitter: float = 0.5,
) -> AsyncRetrying:
    """Retry transport errors, 408, 429 and 5xx up to ``max_attempts`` attempts in all (default 5),
    waiting ``Retry-After`` when given, else ``initial_wait * 2**(n-1)`` seconds (capped at ``max_wait``)
    plus up to ``jitter`` seconds of random jitter before attempt ``n + 1``. The last error is re-raised."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    if initial_wait < 0 or max_wait < 0 or jitter < 0:
        raise ValueError(
            f"waits must be >= 0, got initial_wait={initial_wait}, max_wait={max_wait}, jitter={jitter}"
        )
    return AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        # wait_exponential + wait_random rather than wait_exponential_jitter, whose arguments changed name
        # within tenacity 9.x (``initial`` is deprecated in 9.2)
        wait=wait_retry_after(
            wait_exponential(multiplier=initial_wait, max=max_wait) + wait_random(0, jitter)
        ),
        stop=stop_after_attempt(max_attempts),
        reraise=True,
    )


class CoolDown:
    """A pause shared by every worker of one run. ``await wait()`` returns at once unless a pause is on."""

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until = 0.0

    @property
    def paused(self) -> bool:
        """Whether a pause was ever set (cheap: lets the hot path skip awaiting :meth:`wait`)."""
        return self._until != 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (extends, never shortens, a pause)."""
        until = asyncio.get_running_loop().time() + seconds
        if until > self._until:
            self._until = until

    def remaining(self) -> float:
        """Seconds left of the current pause (0.0 when none)."""
        if self._until == 0.0:
            return 0.0
        return max(self._until - asyncio.get_running_loop().time(), 0.0)

    async def wait(self) -> None:
        if self._until == 0.0:
            return
        loop = asyncio.get_running_loop()
        while (remaining := self._until - loop.time()) > 0:
            await asyncio.sleep(remaining)
