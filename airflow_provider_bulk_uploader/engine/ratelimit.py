"""Request-rate limiting: paced sends with a declared burst, in two modes, adapting when the quota is wrong.

**Pacing (both modes).** Real gateways do not meter "N per window" the way the declaration reads: nginx's
``limit_req`` without ``burst`` accepts one request per ``T/N`` and rejects the next one sooner, HAProxy
estimates the rate from the previous period spread evenly, Envoy's and Kong's local limits and Apigee's
Spike Arrest behave alike. So sends are paced with GCRA (the generic cell rate algorithm): an emission
interval of ``period / num_requests`` and a tolerance of ``(burst - 1)`` intervals — at most ``burst``
requests leave back to back, sustained sends are spaced ``T/N`` apart. After a pause (a 429, a
``Retry-After``, a shared cool-down) the burst credit is gone: requests resume one interval apart instead
of all at once (which would draw the same 429s again).

**strict** (default, :class:`SlotLimiter`) keeps, on top of the pacing, the window guarantee: at most
``num_requests`` arrivals *at the server* in any window of ``period``, retries included. It keeps ``N``
slots; a request takes one before it is sent and gives it back when its response (or error) has arrived;
the slot can be taken again only ``period`` after that. A request reaches the server before its response
returns, so two arrivals on the same slot are more than ``period`` apart — whatever the network delays.
(Why not a sliding log of grant times: requests granted together can wait on new connections and arrive
late, crowding the next window.) Throughput is at most ``N / (period + latency)``.

**bucket** (:class:`BucketLimiter`): only the pacing — a token bucket of capacity ``burst`` refilled at
``N`` per ``period``, counted at send time, nothing held; for APIs that meter with a bucket (it uses their
whole quota at any latency).

**Adaptation** (``Ratelimit(adaptive=True)``, the default): a 429 or 503 that does not say when to come back
lowers the pace and the burst (:mod:`.adaptive`, AIMD) instead of pausing everyone for a fixed second;
the pace climbs back while no rejection comes, never above the declared rate.

Both limiters read time from the running loop (``loop.time()``) and wait with ``loop.call_at``, so tests
drive them with a virtual-time event loop instead of sleeping. They implement :class:`Limiter` (what the
engine needs from any limiter, shared ones included) and :class:`AdaptiveLimiter` (what the engine tells a
limiter that paces and adapts); :mod:`.shared_ratelimit` holds the Redis-backed ones.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import KW_ONLY, dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from . import defaults
from .adaptive import AdaptiveRate
from .validation import require_bool, require_int

__all__ = [
    "AdaptiveLimiter",
    "BucketLimiter",
    "Limiter",
    "Ratelimit",
    "RatelimitMode",
    "SlotLimiter",
    "new_limiter",
]

#: Weight of a new round trip in the smoothed one (TCP's SRTT uses 1/8).
_RTT_GAIN = 0.125
#: ``strict``: paced, and at most N arrivals in any window T (slots); ``bucket``: paced (a token bucket).
RatelimitMode = Literal["strict", "bucket"]
RATELIMIT_MODES: tuple[RatelimitMode, ...] = defaults.RATE_LIMIT_MODES


@dataclass(frozen=True)
class Ratelimit:
    """At most ``num_requests`` requests per ``period`` (default 1 second), retries included, paced.

    :param mode: ``"strict"`` (default): paced, and at most ``num_requests`` arrivals at the server in any
        window of ``period`` (:class:`SlotLimiter`), for APIs that count a sliding window; ``"bucket"``:
        paced only — a token bucket of capacity ``burst`` refilled at ``num_requests`` per ``period``,
        counted at send time (:class:`BucketLimiter`), for APIs that meter with a bucket.
    :param burst: requests that may leave back to back (GCRA tolerance ``burst - 1`` emission intervals of
        ``period / num_requests``); read it from the gateway: nginx ``limit_req`` without ``burst`` -> 1,
        with ``burst=B`` -> B; a token bucket of capacity C -> C. ``None`` (default): 1, safe against every
        meter measured (see docs/rate-limits.md) — above 1000 requests per second what one millisecond
        holds (:attr:`effective_burst`). ``burst=num_requests`` is the behaviour before pacing (all at
        once). In ``strict`` mode at most ``num_requests``.
    :param adaptive: lower the pace and burst after a 429/503 that does not say when to come back, and climb
        back while none comes (never above ``num_requests`` per ``period``); default ``True``. ``False``: a
        429 without ``Retry-After`` pauses every request for ``defaults.PAUSE_AFTER_429_SECONDS`` instead.

    >>> Ratelimit(10, timedelta(seconds=2))              # 10 requests per 2 seconds, paced 0.2 s apart
    >>> Ratelimit(50, mode="bucket", burst=100)          # a bucket of 100, refilled at 50 per second
    >>> Ratelimit(20, burst=20, adaptive=False)          # all 20 at once each second, as before pacing
    """

    num_requests: int
    period: timedelta = timedelta(seconds=1)
    _: KW_ONLY
    mode: RatelimitMode = defaults.RATE_LIMIT_MODE
    burst: int | None = None
    adaptive: bool = defaults.RATE_LIMIT_ADAPTIVE

    def __post_init__(self) -> None:
        require_int("Ratelimit num_requests", self.num_requests, 1)
        if self.mode not in RATELIMIT_MODES:
            raise ValueError(f"Ratelimit mode must be one of {', '.join(RATELIMIT_MODES)}; got {self.mode!r}")
        if not isinstance(self.period, timedelta):
            raise TypeError(f"Ratelimit period must be a datetime.timedelta, got {self.period!r}")
        if self.period <= timedelta(0):
            raise ValueError(f"Ratelimit period must be positive, got {self.period}")
        if self.burst is not None:
            require_int("Ratelimit burst", self.burst, 1, maximum=defaults.MAX_RATE_LIMIT_REQUESTS)
            if self.mode == "strict" and self.burst > self.num_requests:
                raise ValueError(
                    f"Ratelimit burst must be <= num_requests ({self.num_requests}) in strict mode (at most "
                    f"num_requests arrive in any period), got burst={self.burst}; a token bucket larger than "
                    "its refill per period is mode='bucket'"
                )
        require_bool("Ratelimit adaptive", self.adaptive)

    @property
    def period_seconds(self) -> float:
        return self.period.total_seconds()

    @property
    def requests_per_second(self) -> float:
        return self.num_requests / self.period_seconds

    @property
    def emission_interval(self) -> float:
        """Seconds between two sustained sends: ``period / num_requests``."""
        return self.period_seconds / self.num_requests

    @property
    def effective_burst(self) -> int:
        """``burst``, or the default when ``None``: 1 (``defaults.RATE_LIMIT_BURST``) — or, above 1000
        requests per second, what one millisecond holds (``defaults.RATE_LIMIT_BURST_SECONDS``) — at most
        ``num_requests``."""
        if self.burst is not None:
            return self.burst
        per_timer_tick = int(self.requests_per_second * defaults.RATE_LIMIT_BURST_SECONDS)
        return min(self.num_requests, max(defaults.RATE_LIMIT_BURST, per_timer_tick))

    def describe(self) -> str:
        """E.g. ``20/1s strict`` (for log lines; :meth:`describe_pacing` says how sends are spaced)."""
        return f"{self.num_requests}/{self.period_seconds:g}s {self.mode}"

    def describe_pacing(self) -> str:
        """E.g. ``burst 1, adaptive`` (for log lines)."""
        return f"burst {self.effective_burst}" + (", adaptive" if self.adaptive else "")


@runtime_checkable
class Limiter(Protocol):
    """What the engine needs from a rate limiter (in-process or shared through Redis).

    One request does ``ticket = await acquire()``, sends, then ``release(ticket)`` once its response or
    error has arrived. ``pause(seconds)`` holds every request sharing the limiter back (a 429 or a
    ``Retry-After`` seen by one of them; when it ends requests resume paced, not all at once);
    ``free_again_at()`` is the loop time at which the capacity used so far is free again (what
    ``settle=True`` waits for; ``-inf`` when the state outlives the run, as in Redis); ``aclose()`` ends the
    run's use of it.
    """

    rate: Ratelimit

    async def acquire(self) -> Any: ...

    def release(self, ticket: Any = None) -> None: ...

    def pause(self, seconds: float) -> None: ...

    def free_again_at(self) -> float: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class AdaptiveLimiter(Protocol):
    """What the engine tells a limiter that paces and adapts (besides :class:`Limiter`); a limiter without
    these methods gets today's fixed pause after a 429 instead.

    * ``on_rejection(sent_at, status)``: a request sent at loop time ``sent_at`` was answered ``status``
      (429 or 503) without a when-to-come-back. Lower the effective rate and burst once per reaction (not
      again for a request sent before the last decrease), and take back the burst credit so the next
      request leaves one (new) emission interval from now. Return the new effective rate (requests per
      second) when it was lowered, else ``None``. Only called when ``rate.adaptive``.
    * ``set_rate(requests_per_second, burst)``: pace at this rate and burst from now on (never above the
      declared ones); what :class:`~.adaptive.AdaptiveRate` decides, or a server's quota headers.
    * ``effective_rate``: the rate it paces at now; ``lowest_rate``: the lowest it paced at so far
      (requests per second; the report's ``effective_rate_min``).
    """

    def on_rejection(self, sent_at: float, status: int) -> float | None: ...

    def set_rate(self, requests_per_second: float, burst: int) -> None: ...

    @property
    def effective_rate(self) -> float: ...

    @property
    def lowest_rate(self) -> float: ...


def new_limiter(rate: Ratelimit) -> Limiter:
    """The in-process limiter for ``rate``: :class:`SlotLimiter` (strict) or :class:`BucketLimiter`."""
    return BucketLimiter(rate) if rate.mode == "bucket" else SlotLimiter(rate)


class _PacedLimiter:
    """GCRA pacing, a first-come-first-served queue of waiters and the adaptation, on the loop clock.

    ``_tat`` is the theoretical arrival time of the next request: one may leave at ``now`` when
    ``now >= _tat - _tolerance``, and leaving moves ``_tat`` to ``max(_tat, now) + _interval``.
    Subclasses add a capacity (``_capacity_at``: when the next unit is free; ``_take``/``_give``).
    """

    def __init__(self, rate: Ratelimit) -> None:
        self.rate = rate
        self._declared_interval = rate.emission_interval
        self._declared_burst = rate.effective_burst
        self._interval = self._declared_interval
        self._tolerance = (self._declared_burst - 1) * self._interval
        self._tat = -math.inf
        #: loop time before which nothing leaves (a pause)
        self._hold = -math.inf
        #: the usual round trip, send to answer (seconds; smoothed)
        self._rtt = math.inf
        self._adapt: AdaptiveRate | None = (
            AdaptiveRate(rate.requests_per_second, self._declared_burst) if rate.adaptive else None
        )
        #: the rate and burst set by set_rate, when below the declared ones
        self._set: tuple[float, int] | None = None
        #: whether the pace may differ from the declared one (lowered once, or set): checked per acquire
        self._adapting = False
        self._lowest = rate.requests_per_second
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    # -- Limiter ---------------------------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait until the pace (and, in strict mode, a free slot) lets a request leave; take it. Pair with
        exactly one :meth:`release` of the ticket returned (the loop time the request left)."""
        loop = asyncio.get_running_loop()
        if not self._waiters:
            now = loop.time()
            if self._adapting:
                self._follow(now)
            if now >= self._tat - self._tolerance and now >= self._hold and self._take(now):
                return now
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self._hand_out(loop)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # it was ours already: give it back (it counts as used)
            raise  # a cancelled waiter still queued is skipped by _hand_out
        # a waiter resumes a little after its grant (later on a busy loop): pace the next one from when
        # this one really leaves, or the two could reach the server closer than one interval apart
        now = loop.time()
        if now + self._interval > self._tat:
            self._tat = now + self._interval
        return now

    def release(self, ticket: Any = None) -> None:
        """The response (or error) of the request that left at loop time ``ticket`` has arrived (nothing to
        give back: a bucket counts sends; :class:`SlotLimiter` gives its slot back)."""
        if ticket is not None:
            self._answered(ticket, asyncio.get_running_loop().time())

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now; then they resume paced (no burst credit)."""
        loop = asyncio.get_running_loop()
        self._hold_until(loop.time() + max(0.0, seconds), loop)

    def free_again_at(self) -> float:
        """Loop time at which the burst credit is whole again (a fresh limiter could start from there)."""
        return self._tat

    async def aclose(self) -> None:
        """Nothing to close."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- AdaptiveLimiter -------------------------------------------------------------------------------

    def on_rejection(self, sent_at: float, status: int) -> float | None:
        """A 429/503 without a when-to-come-back answered a request sent at loop time ``sent_at``: lower
        the pace (once per reaction) and take back the burst credit. The new rate, or ``None``."""
        adapt = self._adapt
        if adapt is None:
            return None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not adapt.on_rejection(now, sent_at):
            return None
        self._adapting = True
        self._follow(now)
        self._hold_until(now + self._interval, loop)
        return adapt.low

    def set_rate(self, requests_per_second: float, burst: int) -> None:
        """Pace at ``requests_per_second`` (at most the declared rate) with ``burst`` (at most the declared
        burst) from now on; the declared ones again with ``set_rate(rate.requests_per_second, ...)``."""
        declared = self.rate.requests_per_second
        rps = min(declared, float(requests_per_second))
        if not rps > 0:
            raise ValueError(f"set_rate requests_per_second must be > 0, got {requests_per_second!r}")
        burst = max(1, min(int(burst), self._declared_burst))
        self._set = None if rps >= declared and burst >= self._declared_burst else (rps, burst)
        self._adapting = True
        loop = asyncio.get_running_loop()
        self._apply(rps, burst, loop.time())
        self._reschedule(loop)

    @property
    def effective_rate(self) -> float:
        """Requests per second the limiter paces at now."""
        return 1.0 / self._interval

    @property
    def lowest_rate(self) -> float:
        """The lowest rate it paced at so far (requests per second)."""
        lowest = self._lowest
        return min(lowest, self._adapt.lowest) if self._adapt is not None else lowest

    @property
    def adaptation(self) -> AdaptiveRate | None:
        """The AIMD controller (``None`` with ``adaptive=False``)."""
        return self._adapt

    # -- internals ---------------------------------------------------------------------------------------

    def _follow(self, now: float) -> None:
        """Apply the adaptation's (climbing) rate and burst at ``now``, bounded by a rate from set_rate."""
        adapt = self._adapt
        if adapt is not None and adapt.decreases:
            rps, burst = adapt.rate_at(now), adapt.burst_at(now)
        else:
            rps, burst = self.rate.requests_per_second, self._declared_burst
        if self._set is not None:
            rps, burst = min(rps, self._set[0]), min(burst, self._set[1])
        self._apply(rps, burst, now)

    def _apply(self, rps: float, burst: int, now: float) -> None:
        interval = max(self._declared_interval, 1.0 / rps)
        if interval != self._interval:
            self._interval = interval
            self._lowest = min(self._lowest, 1.0 / interval)
        tolerance = (burst - 1) * interval
        if tolerance != self._tolerance:
            # the moment the next request may leave stays where it was: a larger burst refills over time
            # (no sudden burst when it comes back), a smaller one does not let anyone leave sooner
            self._tat += tolerance - self._tolerance
            self._tolerance = tolerance

    def _answered(self, sent: float, now: float) -> None:
        """A request that left at ``sent`` was answered at ``now``: an answer later than the usual round
        trip (a smoothed average, as TCP's SRTT) says it reached the server that much later than it left,
        so the next request waits until one interval after that (after the first answer, whose round trip
        included opening a connection: one interval after ``now``). What it catches: a first request that
        reached the server late (a new connection, TLS) and a request that met a busy server — each would
        make the next one arrive early for a meter without tolerance (nginx without ``burst``). Only binding
        at latencies below the interval: at higher latencies the next request has left before this answer
        comes. (Not the shortest round trip: a 429 from a gateway comes back faster than a real answer.)"""
        rtt = now - sent
        usual = self._rtt
        self._rtt = rtt if usual == math.inf else usual + (rtt - usual) * _RTT_GAIN
        after = now - (0.0 if usual == math.inf else usual) + self._interval
        if after > self._tat:
            self._tat = after

    def _hold_until(self, until: float, loop: asyncio.AbstractEventLoop) -> None:
        """No request before ``until``, then one per interval: the burst credit is used up."""
        if until > self._hold:
            self._hold = until
        tat = until + self._tolerance
        if tat > self._tat:
            self._tat = tat
        self._reschedule(loop)

    def _reschedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        if self._waiters:
            self._hand_out(loop)

    def _hand_out(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        waiters = self._waiters
        if self._adapting:
            self._follow(now)
        at = math.inf
        while waiters:
            if waiters[0].done():  # cancelled while queued
                waiters.popleft()
                continue
            at = max(self._tat - self._tolerance, self._hold, self._capacity_at(now))
            if at > now:
                break
            self._take(now)
            waiters.popleft().set_result(None)
        if waiters and at < math.inf and at < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = loop.call_at(at, self._on_timer, loop), at

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._timer_at = None, math.inf
        self._hand_out(loop)

    def _capacity_at(self, now: float) -> float:
        """Loop time at which the next request has the capacity to leave (``now`` if it has; ``inf`` if
        only a release can free some)."""
        return now

    def _take(self, now: float) -> bool:
        """Take a unit of capacity and pace the next send, if there is capacity now (``False``: nothing
        taken). One call for :meth:`acquire`'s fast path; :meth:`_hand_out` calls it after
        :meth:`_capacity_at` said there is."""
        tat = self._tat
        self._tat = (tat if tat > now else now) + self._interval
        return True


class SlotLimiter(_PacedLimiter):
    """The strict limiter behind :class:`Ratelimit`: paced, and at most ``num_requests`` arrivals in any
    ``period``: ``async with limiter.slot(): <one request>``.

    Waiters are served first come, first served. Must be used from one event loop.
    """

    def __init__(self, rate: Ratelimit):
        super().__init__(rate)
        self.capacity = rate.num_requests
        self.period = rate.period_seconds
        self._never_used = rate.num_requests  # slots free since the start (no deque entry needed)
        self._ready_at: deque[float] = deque()  # loop times at which released slots become free, ascending

    def release(self, ticket: Any = None) -> None:
        """Give a slot back after the response (or the error) has arrived; reusable ``period`` later."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._ready_at.append(now + self.period)
        if ticket is not None:
            self._answered(ticket, now)
        if self._waiters:
            self._hand_out(loop)

    def free_again_at(self) -> float:
        """Loop time at which every slot used so far is free again and the burst credit is whole
        (``-inf`` when nothing was used)."""
        return max(self._ready_at[-1] if self._ready_at else -math.inf, self._tat)

    def slot(self) -> _Slot:
        return _Slot(self)

    def _capacity_at(self, now: float) -> float:
        # a released slot that is free again first, so the queue of released slots stays as short as the
        # requests of the last period (not one entry per request while unused slots remain)
        ready = self._ready_at
        if ready and ready[0] <= now:
            return now
        if self._never_used:
            return now
        return ready[0] if ready else math.inf

    def _take(self, now: float) -> bool:
        ready = self._ready_at
        if ready and ready[0] <= now:
            ready.popleft()
        elif self._never_used:
            self._never_used -= 1
        else:
            return False
        tat = self._tat
        self._tat = (tat if tat > now else now) + self._interval
        return True


class BucketLimiter(_PacedLimiter):
    """``Ratelimit(mode="bucket")``: a token bucket of capacity ``burst`` refilled at ``num_requests`` per
    ``period`` (GCRA); a request takes a token when it is sent and gives nothing back. Not strict at the
    server: a bucket counts sends, so up to ``burst + num_requests`` may arrive in one period."""


class _Slot:
    __slots__ = ("_limiter",)

    def __init__(self, limiter: SlotLimiter):
        self._limiter = limiter

    async def __aenter__(self) -> None:
        await self._limiter.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._limiter.release()
