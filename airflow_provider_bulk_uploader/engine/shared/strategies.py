"""What each mode asks Redis for one budget: :class:`SlotBudget` (``strict``) and :class:`BucketBudget`
(``bucket``). The :class:`~.limiter.RedisLimiter` around them does the rest (one leader per process, the
shared pause, coalesced releases, failures) the same way for both.

A strategy is plain data plus coroutines: ``ask(call, want)`` — one round trip, an :class:`Answer`
(up to ``want`` tickets, the seconds until asking again makes sense, whether the script found the
budget's state incomplete and repaired it, and the shared pace) — ``give_back(call, tickets)``, and
``reject(call, count, sent_us)`` / ``set_rate(call, rps, burst)`` on the pace every process on the key
shares (``lua/adapt.lua``). ``call`` runs one script by name (:data:`~.scripts.NAMES`) with its keys and
arguments; the limiter bounds it in time.

Both modes pace (``lua/pace.lua``): grants leave at most ``burst`` back to back, then one per emission
interval, over every process on the key; the interval and burst are the declared ones, or lower while the
adaptation (:mod:`..adaptive`'s arithmetic, applied in Redis) has lowered them.

Both scripts treat a budget whose state is missing or partial as *used* (see ``lua/budget.lua``); the
strategy only carries what they say back to the limiter, which logs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from .. import defaults
from ..ratelimit import Ratelimit
from .pace import PACE_FIELDS, PaceReply, pace_args, shared_burst
from .scripts import US, reply_text

__all__ = ["Answer", "BucketBudget", "Budget", "KeyFamily", "ScriptCall", "SlotBudget", "new_strategy"]


#: run one script: ``await call(name, keys, args)`` → the script's reply
ScriptCall = Callable[[str, Sequence[str], Sequence[Any]], Awaitable[Any]]


class Answer(NamedTuple):
    """What one acquire round trip gave."""

    tickets: list[Any]
    #: seconds until asking again makes sense (0 when something was granted)
    wait_seconds: float
    #: ``""``, ``"lost"`` (state missing or partial while in use: repaired as used) or ``"unproven"`` (no
    #: trace of the budget, and the server cannot prove it unused lately: started as used)
    repair: str = ""
    #: slots re-added as used (strict mode; 0 for a bucket)
    repaired: int = 0
    #: the shared pace as the script saw it
    pace: PaceReply | None = None


class KeyFamily:
    """The Redis keys of one budget, ``<SHARED_KEY_PREFIX>{<key>}:<part>`` (the braces keep them in one
    cluster hash slot): ``family.of("ready", "held")`` → their names."""

    def __init__(self, key: str) -> None:
        self.base = f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:"

    def of(self, *parts: str) -> list[str]:
        return [self.base + part for part in parts]


@dataclass(frozen=True)
class Budget:
    """One process's view of a shared budget, in the units the scripts use (µs, ms)."""

    rate: Ratelimit
    keys: KeyFamily
    #: this process on the key (fairness, grant ids)
    client_id: str
    period_us: int
    #: how long a granted slot may be held before it is taken back (strict mode)
    lease_us: int
    #: every key's time to live, refreshed on each call: keys of an unused budget expire
    ttl_ms: int
    #: the declared burst (:func:`~.pace.shared_burst`) and the pace constants of the scripts
    burst: int
    pace_args: tuple[float, ...]

    @classmethod
    def of(cls, rate: Ratelimit, key: str, lease_seconds: float) -> Budget:
        period_us = round(rate.period_seconds * US)
        lease_us = round(lease_seconds * US)
        burst = shared_burst(rate)
        return cls(
            rate=rate,
            keys=KeyFamily(key),
            client_id=uuid.uuid4().hex[:16],
            period_us=period_us,
            lease_us=lease_us,
            ttl_ms=max(60_000, 2 * (lease_us + period_us) // 1000),
            burst=burst,
            pace_args=pace_args(rate, burst),
        )


class _Paced:
    """What both strategies do to the shared pace (``lua/adapt.lua``)."""

    budget: Budget
    #: ``lua/adapt.lua``'s keys: pace, rejections, and a bucket's timestamp
    _adapt_keys: list[str]

    async def reject(self, call: ScriptCall, count: int, sent_us: int) -> tuple[bool, PaceReply]:
        """``count`` rejections answered, the latest sent at ``sent_us`` (Redis clock): count them, and
        lower the shared pace once unless all were sent before its last decrease. ``(lowered, pace)``."""
        b = self.budget
        reply = await call("adapt", self._adapt_keys, ["reject", b.ttl_ms, count, sent_us, *b.pace_args])
        return bool(int(reply[0])), PaceReply.parse(reply[1:])

    async def set_rate(self, call: ScriptCall, requests_per_second: float, burst: int) -> PaceReply:
        """Pace every process on the key at most at this rate and burst (never above the declared ones)."""
        b = self.budget
        reply = await call(
            "adapt", self._adapt_keys, ["set", b.ttl_ms, requests_per_second, burst, *b.pace_args]
        )
        return PaceReply.parse(reply[1:])


class SlotBudget(_Paced):
    """``strict``: N slots in Redis, paced; a request holds one from before it is sent until its response,
    and the slot is free again ``period`` after that (at most N arrivals in any window). Tickets are
    ``(slot, grant id)`` pairs to give back; a slot not given back returns when its lease ends."""

    scripts: ClassVar[tuple[str, ...]] = ("acquire", "release", "adapt")
    _PARTS = ("ready", "held", "owner", "pause", "meta", "clients", "waiting", "wants", "pace")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._keys = budget.keys.of(*self._PARTS)
        self._adapt_keys = budget.keys.of("pace", "rejections")

    async def ask(self, call: ScriptCall, want: int) -> Answer:
        b = self.budget
        reply = await call(
            "acquire",
            self._keys,
            [
                b.rate.num_requests,
                b.period_us,
                b.lease_us,
                want,
                b.client_id,
                b.ttl_ms,
                round(defaults.SHARED_POLL_MIN_SECONDS * US),
                round(defaults.SHARED_POLL_MAX_SECONDS * US),
                round(defaults.SHARED_RESERVATION_GRACE_SECONDS * US),
                *b.pace_args,
            ],
        )
        first = 3 + PACE_FIELDS
        slots = [(reply_text(reply[i]), reply_text(reply[i + 1])) for i in range(first, len(reply), 2)]
        pace = PaceReply.parse(reply[3:first])
        return Answer(slots, int(reply[0]) / US, reply_text(reply[2]), int(reply[1]), pace)

    async def give_back(self, call: ScriptCall, tickets: Sequence[str]) -> None:
        """``tickets``: ``slot, grant, slot, grant, ...`` (every release pending, in one call)."""
        b = self.budget
        await call("release", self._keys[:3], [b.rate.num_requests, b.period_us, *tickets])


class BucketBudget(_Paced):
    """``bucket``: a token bucket shared in Redis (GCRA, one timestamp): a burst of ``burst``, then N per
    ``period`` (one per emission interval), counted at send time. Nothing is held, so tickets are ``None``
    and nothing is given back."""

    scripts: ClassVar[tuple[str, ...]] = ("bucket", "adapt")
    _PARTS = ("tat", "pause", "meta", "clients", "pace")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self._keys = budget.keys.of(*self._PARTS)
        self._adapt_keys = budget.keys.of("pace", "rejections", "tat")

    async def ask(self, call: ScriptCall, want: int) -> Answer:
        b = self.budget
        reply = await call(
            "bucket",
            self._keys,
            [b.rate.num_requests, b.period_us, want, b.client_id, b.ttl_ms, *b.pace_args],
        )
        granted, wait_us, repair = reply[:3]
        return Answer(
            [None] * int(granted), int(wait_us) / US, reply_text(repair), 0, PaceReply.parse(reply[3:])
        )

    async def give_back(self, call: ScriptCall, tickets: Sequence[str]) -> None:
        """Nothing to give back: a bucket counts sends, not requests in flight."""


def new_strategy(budget: Budget) -> SlotBudget | BucketBudget:
    """The strategy for ``budget.rate.mode``."""
    return BucketBudget(budget) if budget.rate.mode == "bucket" else SlotBudget(budget)
