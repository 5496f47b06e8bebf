"""Retry strategy: what is retried, how long to wait, and the shared cool-down after a 429.

Small composable pieces in tenacity's style:

* :func:`is_retryable` — transport errors (connect/read errors, timeouts, dropped connections), 408, 429
  and 5xx; never other 4xx, never invalid JSON in a 2xx.
* :class:`wait_retry_after` — honour ``Retry-After`` when the server sent one, else fall back to another
  wait (exponential backoff with jitter by default).
* :func:`default_retry_policy` — the two above, bounded attempts, re-raising the last error.
* :class:`CoolDown` — one pause shared by all workers: a 429 stops *every* request until its
  Retry-After has passed, not only the one that received it; :func:`after_rejection` — what a run does
  after a 429/503 (that pause, or an adapting limiter lowering its pace).
* :func:`parse_retry_after` / :func:`parse_ratelimit_reset` / :func:`pause_after` — the one place that
  reads what a server says about when to come back (``Retry-After``; the ``RateLimit`` headers of the IETF
  draft and their legacy ``X-RateLimit-*`` forms, epoch or delta).

The engine enters tenacity only after a first attempt has failed (wrapping every request in
``AsyncRetrying`` costs ~180 µs of CPU each), so the success path pays nothing for retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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
from .ratelimit import AdaptiveLimiter

if TYPE_CHECKING:
    from .ratelimit import Limiter
    from .report import FetchReport

__all__ = [
    "CoolDown",
    "after_rejection",
    "default_retry_policy",
    "is_retryable",
    "parse_ratelimit_reset",
    "parse_retry_after",
    "pause_after",
    "wait_retry_after",
]

#: Longest Retry-After honoured, in seconds; a larger value is clipped to this.
MAX_RETRY_AFTER_SECONDS = defaults.MAX_RETRY_AFTER_SECONDS

logger = logging.getLogger("airflow_provider_bulk_uploader")


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


#: A reset value above this is an epoch timestamp (seconds; above 1e12: milliseconds), not a delta.
_EPOCH_SECONDS = 1_000_000_000
_DRAFT_PARAM = re.compile(r"(?:^|[;,\s])(remaining|reset|r|t)\s*=\s*\"?(-?[0-9.]+)", re.IGNORECASE)


def _reset_seconds(value: str, now: float | None, cap: float | None) -> float | None:
    try:
        reset = float(value.strip())
    except ValueError:
        return None
    if reset != reset:  # NaN
        return None
    if reset > _EPOCH_SECONDS:  # an epoch timestamp (GitHub's X-RateLimit-Reset), seconds or milliseconds
        reset = (reset / 1000.0 if reset > _EPOCH_SECONDS * 1000 else reset) - (
            time.time() if now is None else now
        )
    reset = max(reset, 0.0)
    return reset if cap is None else min(reset, cap)


def parse_ratelimit_reset(
    header: Callable[[str], str | None],
    *,
    now: float | None = None,
    cap: float | None = MAX_RETRY_AFTER_SECONDS,
) -> float | None:
    """Seconds until the quota is back when the response's rate-limit headers say it is used up (remaining
    0), else ``None``. ``header(name)`` returns a header's value (case-insensitive lookup).

    Read, in order: the IETF draft's structured ``RateLimit`` header (``"default";r=0;t=30`` in recent
    drafts, ``limit=100, remaining=0, reset=30`` in earlier ones); the draft's separate
    ``RateLimit-Remaining`` + ``RateLimit-Reset``; the legacy ``X-RateLimit-Remaining`` +
    ``X-RateLimit-Reset`` (or ``X-RateLimit-Reset-After``). A reset is delta seconds, or an epoch timestamp
    in seconds or milliseconds when it is that large. Never negative; clipped to
    :data:`MAX_RETRY_AFTER_SECONDS`.
    """
    combined = header("RateLimit")
    if combined:
        params = {k.lower(): v for k, v in _DRAFT_PARAM.findall(combined)}
        remaining = params.get("r", params.get("remaining"))
        reset = params.get("t", params.get("reset"))
        if remaining is not None and reset is not None:
            return _reset_seconds(reset, now, cap) if float(remaining) <= 0 else None
    for prefix in ("RateLimit-", "X-RateLimit-"):
        remaining = header(prefix + "Remaining")
        if remaining is None:
            continue
        try:
            if float(remaining.strip()) > 0:
                return None
        except ValueError:
            return None
        reset = header(prefix + "Reset") or header(prefix + "Reset-After")
        return None if reset is None else _reset_seconds(reset, now, cap)
    return None


def pause_after(
    status: int, header: Callable[[str], str | None], *, cap: float | None = MAX_RETRY_AFTER_SECONDS
) -> float | None:
    """Seconds every request sharing the quota must wait after a ``status`` response, as the server said:
    for a 429 or 503, ``Retry-After``, else the rate-limit headers when they say the quota is used up
    (:func:`parse_ratelimit_reset`). ``None`` when the server said nothing (or for another status)."""
    if status not in (429, 503):
        return None
    seconds = parse_retry_after(header("Retry-After"), cap=cap)
    return seconds if seconds is not None else parse_ratelimit_reset(header, cap=cap)


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

    __slots__ = ("_since", "_until")

    def __init__(self) -> None:
        self._until = 0.0
        #: loop time at which the current (or last) pause was set
        self._since = -math.inf

    @property
    def paused(self) -> bool:
        """Whether a pause was ever set (cheap: lets the hot path skip awaiting :meth:`wait`)."""
        return self._until != 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (extends, never shortens, a pause)."""
        now = asyncio.get_running_loop().time()
        until = now + seconds
        if until > self._until:
            if self._until <= now:  # a new pause, not an extension of the current one
                self._since = now
            self._until = until

    def after_rejection(
        self, status: int, retry_after: float | None, sent_at: float, *, adapting: bool
    ) -> float | None:
        """The pause every worker takes after a ``status`` (429/503) answer to a request sent at loop time
        ``sent_at``, set here; ``None`` when there is none.

        * the server said when to come back (``retry_after``: ``Retry-After`` or used-up quota headers):
          that long;
        * else, with a limiter that adapts (``adapting``): none — the limiter lowers its pace instead;
        * else a 429: :data:`~.defaults.PAUSE_AFTER_429_SECONDS` — unless the request was sent before the
          current pause began (it was in flight when the first 429 came: the pause already answers it, a
          second one would only repeat it); a 503 without ``Retry-After``: none (a server error, retried).
        """
        if retry_after is not None:
            self.pause(retry_after)
            return retry_after
        if adapting or status != 429 or sent_at <= self._since:
            return None
        self.pause(defaults.PAUSE_AFTER_429_SECONDS)
        return defaults.PAUSE_AFTER_429_SECONDS

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


def after_rejection(
    error: FetchError,
    sent_at: float,
    *,
    cooldown: CoolDown,
    limiter: Limiter | None,
    report: FetchReport,
) -> None:
    """What a run does when ``error`` (a 429 or 503) answered a request sent at loop time ``sent_at``: count
    it in ``report.rejections``; pause every worker (``cooldown``) and every process sharing ``limiter``
    when :meth:`CoolDown.after_rejection` says so; else let an adapting limiter lower its pace (logged at
    WARNING the first time in a run, and the lowest pace kept in ``report.effective_rate_min``)."""
    report.rejections += 1
    adaptive = limiter if isinstance(limiter, AdaptiveLimiter) and limiter.rate.adaptive else None
    status = error.status or 0
    pause = cooldown.after_rejection(status, error.retry_after, sent_at, adapting=adaptive is not None)
    if pause is not None:
        if limiter is not None:
            limiter.pause(pause)  # every process sharing the limiter's budget
        return
    if adaptive is None:
        return
    lowered = adaptive.on_rejection(sent_at, status)
    if lowered is None:
        return
    assert limiter is not None
    first = report.effective_rate_min is None or report.effective_rate_min >= limiter.rate.requests_per_second
    report.effective_rate_min = min(lowered, report.effective_rate_min or lowered)
    host = urlsplit(error.url).netloc.rpartition("@")[2]
    logger.log(
        logging.WARNING if first else logging.DEBUG,
        "rate lowered to %.1f/s after %ds from %s (declared %s; climbing back while no rejection comes)",
        lowered,
        status,
        host,
        limiter.rate.describe(),
    )
