"""Strict request-rate limiting: at most ``num_requests`` request *arrivals at the server* in any window
of length ``period``, retries included.

Why not a token or leaky bucket: ``aiolimiter.AsyncLimiter(N, T)`` starts full and refills continuously,
so it lets ~2N requests start in the first T (measured at a loopback server: 101 arrivals in the first
second under ``AsyncLimiter(50, 1 s)``). A sliding log of *grant* times is not enough either: requests
granted together can wait on new connections, arrive late and crowd the next window (65 in one second).

:class:`SlotLimiter` keeps ``N`` slots. A request takes a slot before it is sent and gives it back when
its response (or error) has arrived; the slot can be taken again only ``period`` after that. A request
always reaches the server before its response returns, so two arrivals on the same slot are more than
``period`` apart, hence at most ``N`` arrivals in any window of length ``period`` — whatever the network
delays. Throughput is ``N / (period + latency)``: with 1 s periods and millisecond latencies it stays
above 99 % of the quota.

It reads time from the running loop (``loop.time()``) and waits with ``loop.call_at``, so tests can drive
it with a virtual-time event loop instead of sleeping.

``Ratelimit(mode="bucket")`` selects :class:`BucketLimiter` instead: aiolimiter's token bucket (a burst of
``N``, then ``N`` per ``period``, counted at send time) for APIs that meter that way. Both implement
:class:`Limiter`, the one interface the engine uses; :mod:`.shared_ratelimit` holds the Redis-backed ones
that share a budget across processes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from . import defaults
from .validation import require_int

__all__ = ["BucketLimiter", "Limiter", "Ratelimit", "RatelimitMode", "SlotLimiter", "new_limiter"]

#: ``strict``: at most N arrivals in any window T (slots); ``bucket``: a token bucket (burst N, N per T).
RatelimitMode = Literal["strict", "bucket"]
RATELIMIT_MODES: tuple[RatelimitMode, ...] = defaults.RATE_LIMIT_MODES


@dataclass(frozen=True)
class Ratelimit:
    """At most ``num_requests`` requests in any window of ``period`` (default 1 second), retries included.

    :param mode: ``"strict"`` (default): at most ``num_requests`` arrivals at the server in any window of
        ``period`` (:class:`SlotLimiter`), for APIs that count a sliding window; ``"bucket"``: a token
        bucket — a burst of ``num_requests``, then ``num_requests`` per ``period`` counted at send time
        (:class:`BucketLimiter`), for APIs that meter with a bucket (up to ~2N arrivals in a first period).

    >>> Ratelimit(10, timedelta(seconds=2))   # 10 requests per 2 seconds
    >>> Ratelimit(50, mode="bucket")          # a bucket of 50, refilled at 50 per second
    """

    num_requests: int
    period: timedelta = timedelta(seconds=1)
    mode: RatelimitMode = defaults.RATE_LIMIT_MODE

    def __post_init__(self) -> None:
        require_int("Ratelimit num_requests", self.num_requests, 1)
        if self.mode not in RATELIMIT_MODES:
            raise ValueError(f"Ratelimit mode must be one of {', '.join(RATELIMIT_MODES)}; got {self.mode!r}")
        if not isinstance(self.period, timedelta):
            raise TypeError(f"Ratelimit period must be a datetime.timedelta, got {self.period!r}")
        if self.period <= timedelta(0):
            raise ValueError(f"Ratelimit period must be positive, got {self.period}")

    @property
    def period_seconds(self) -> float:
        return self.period.total_seconds()

    @property
    def requests_per_second(self) -> float:
        return self.num_requests / self.period_seconds

    def describe(self) -> str:
        """E.g. ``20/1s strict`` (for log lines)."""
        return f"{self.num_requests}/{self.period_seconds:g}s {self.mode}"


@runtime_checkable
class Limiter(Protocol):
    """What the engine needs from a rate limiter (in-process or shared through Redis).

    One request does ``ticket = await acquire()``, sends, then ``release(ticket)`` once its response or
    error has arrived. ``pause(seconds)`` holds every request sharing the limiter back (a 429 or a
    ``Retry-After`` seen by one of them); ``free_again_at()`` is the loop time at which the capacity used
    so far is free again (what ``settle=True`` waits for; ``-inf`` when the state outlives the run, as in
    Redis); ``aclose()`` ends the run's use of it.
    """

    rate: Ratelimit

    async def acquire(self) -> Any: ...

    def release(self, ticket: Any = None) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def free_again_at(self) -> float: ...

    async def aclose(self) -> None: ...


def new_limiter(rate: Ratelimit) -> Limiter:
    """The in-process limiter for ``rate``: :class:`SlotLimiter` (strict) or :class:`BucketLimiter`."""
    return BucketLimiter(rate) if rate.mode == "bucket" else SlotLimiter(rate)


class SlotLimiter:
    """The strict limiter behind :class:`Ratelimit`: ``async with limiter.slot(): <one request>``.

    Waiters are served first come, first served. Must be used from one event loop.
    """

    def __init__(self, rate: Ratelimit):
        self.rate = rate
        self.capacity = rate.num_requests
        self.period = rate.period_seconds
        self._never_used = rate.num_requests  # slots free since the start (no deque entry needed)
        self._ready_at: deque[float] = deque()  # loop times at which released slots become free, ascending
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    async def acquire(self) -> None:
        """Wait for a free slot and take it. Pair with exactly one :meth:`release`."""
        if not self._waiters:
            # a released slot that is free again first, so the queue of released slots stays as short as
            # the requests of the last period (not one entry per request while unused slots remain)
            if self._ready_at and self._ready_at[0] <= asyncio.get_running_loop().time():
                self._ready_at.popleft()
                return
            if self._never_used:
                self._never_used -= 1
                return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._hand_out(loop)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was ours already: give it back (it counts as used)
            raise  # a cancelled waiter still queued is skipped by _hand_out

    def release(self, ticket: Any = None) -> None:
        """Give a slot back after the response (or the error) has arrived; reusable ``period`` later."""
        loop = asyncio.get_running_loop()
        self._ready_at.append(loop.time() + self.period)
        if self._waiters:
            self._hand_out(loop)

    def free_again_at(self) -> float:
        """Loop time at which every slot used so far is free again (``-inf`` when none was released)."""
        return self._ready_at[-1] if self._ready_at else float("-inf")

    def pause(self, seconds: float) -> None:
        """Nothing to share: the run's own :class:`~.retries.CoolDown` holds its workers back."""

    async def aclose(self) -> None:
        """Nothing to close."""

    def slot(self) -> _Slot:
        return _Slot(self)

    def _hand_out(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        waiters, ready = self._waiters, self._ready_at
        while waiters:
            if waiters[0].done():  # cancelled while queued
                waiters.popleft()
                continue
            if ready and ready[0] <= now:
                ready.popleft()
            elif self._never_used:
                self._never_used -= 1
            else:
                break
            waiters.popleft().set_result(None)
        if waiters and ready and self._timer is None:
            self._timer = loop.call_at(ready[0], self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._hand_out(loop)


class BucketLimiter:
    """``Ratelimit(mode="bucket")``: aiolimiter's ``AsyncLimiter(num_requests, period)`` — starts full (a
    burst of ``num_requests``), refills at ``num_requests`` per ``period``; a request takes a token when it
    is sent and gives nothing back. Not strict at the server (see the module docstring)."""

    def __init__(self, rate: Ratelimit):
        from aiolimiter import AsyncLimiter

        self.rate = rate
        self._bucket = AsyncLimiter(rate.num_requests, rate.period_seconds)
        self._last = float("-inf")

    async def acquire(self) -> None:
        await self._bucket.acquire()
        self._last = asyncio.get_running_loop().time()

    def release(self, ticket: Any = None) -> None:
        """Nothing to give back: a bucket counts sends, not requests in flight."""

    def pause(self, seconds: float) -> None:
        """Nothing to share: the run's own :class:`~.retries.CoolDown` holds its workers back."""

    def free_again_at(self) -> float:
        """Loop time at which the bucket has drained the tokens taken so far (a full burst is back)."""
        return self._last + self.rate.period_seconds

    async def aclose(self) -> None:
        """Nothing to close."""


class _Slot:
    __slots__ = ("_limiter",)

    def __init__(self, limiter: SlotLimiter):
        self._limiter = limiter

    async def __aenter__(self) -> None:
        await self._limiter.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._limiter.release()
