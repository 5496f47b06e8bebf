"""The pace one process sees of a budget shared through Redis: :class:`PaceReply` (what every script
reply carries) and :class:`SharedPace` (this process's copy of it).

The pace lives in Redis (the ``pace`` hash, ``lua/pace.lua``): an emission interval and a burst (GCRA), and
the state of the adaptation (:class:`~..adaptive.AdaptiveRate`'s fields, times on Redis's clock), applied
atomically by the scripts, so that every process on the key paces at one rate and a rejection seen by one
lowers the pace of all. A process keeps the last reply's figures (its :attr:`~SharedPace.effective_rate`),
the offset between Redis's clock and its event loop's (to say when a rejected request was sent), and a
copy of the adaptation to tell at once whether its own rejection lowers the pace (for its log line and
report) while the script that does it is on its way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from .. import defaults
from ..adaptive import AdaptiveRate
from ..ratelimit import Ratelimit
from .scripts import US, reply_text

__all__ = ["PACE_FIELDS", "PaceReply", "SharedPace", "shared_burst"]

#: how many values of a script reply are the pace (``lua/pace.lua`` ``pace_reply``)
PACE_FIELDS = 9


def shared_burst(rate: Ratelimit) -> int:
    """The burst a shared budget paces with: ``rate.burst`` when declared, else the in-process default
    (:attr:`~..ratelimit.Ratelimit.effective_burst`) or, when more, what the declared rate sends in
    :data:`~..defaults.SHARED_RATE_LIMIT_BURST_SECONDS` (a process takes at most a burst per round trip) —
    at most ``num_requests``."""
    if rate.burst is not None:
        return rate.burst
    per_round_trip = int(rate.requests_per_second * defaults.SHARED_RATE_LIMIT_BURST_SECONDS)
    return min(rate.num_requests, max(rate.effective_burst, per_round_trip))


def pace_args(rate: Ratelimit, burst: int) -> tuple[float, ...]:
    """The 9 pace constants every script that paces takes (``lua/pace.lua`` ``pace_config``): the declared
    rate (requests per second), interval (µs) and burst, and :class:`~..adaptive.AdaptiveRate`'s
    constants (its defaults: one source for the arithmetic in Python and in Lua)."""
    adapt = AdaptiveRate(rate.requests_per_second, burst)
    return (
        rate.requests_per_second,
        rate.emission_interval * US,
        float(burst),
        adapt.decrease,
        adapt.recovery,
        adapt.margin,
        adapt.probe_after,
        adapt.probe,
        adapt.floor,
    )


class PaceReply(NamedTuple):
    """The pace as one script saw it (Redis's clock, µs)."""

    now_us: float
    #: the emission interval (µs) and burst in force
    interval_us: float
    burst: int
    #: :class:`~..adaptive.AdaptiveRate`'s state (rates in requests per second; ``since_us`` on Redis's
    #: clock; ``decreases`` 0: never lowered)
    low: float
    ceiling: float
    below: bool
    since_us: float
    lowered_burst: int
    decreases: int

    @classmethod
    def parse(cls, values: Sequence[Any]) -> PaceReply:
        """From the 9 values of a reply (bytes or strings)."""
        v = [float(reply_text(x)) for x in values[:PACE_FIELDS]]
        return cls(v[0], v[1], int(v[2]), v[3], v[4], bool(v[5]), v[6], int(v[7]), int(v[8]))


class SharedPace:
    """This process's view of the pace shared on a key (see the module docstring).

    :param rate: the declared quota; :param burst: the declared burst (:func:`shared_burst`).
    """

    def __init__(self, rate: Ratelimit, burst: int) -> None:
        self.declared_rate = rate.requests_per_second
        self.declared_interval = rate.emission_interval
        self.declared_burst = burst
        #: Redis's clock minus the event loop's (seconds), from the last reply (``None``: no reply yet)
        self.offset: float | None = None
        #: the interval (seconds) and burst in force at the last reply
        self.interval = self.declared_interval
        self.burst = burst
        self.lowest = self.declared_rate
        #: the adaptation as Redis holds it (times in Redis seconds), to predict this process's rejections
        self.adaptation = AdaptiveRate(self.declared_rate, burst)
        #: a rejection predicted here and not yet applied in Redis: a reply of an earlier call must not undo
        #: it in the copy
        self._predicted = 0

    @property
    def effective_rate(self) -> float:
        """Requests per second the key paced at, at the last reply."""
        return 1.0 / self.interval

    def follow(self, reply: PaceReply, sent: float, answered: float, *, applied: int = 0) -> None:
        """Take in a script's ``reply``, sent at loop time ``sent`` and answered at ``answered``;
        ``applied``: predicted rejections this reply includes (the adapt script's)."""
        # Redis read its clock somewhere in the round trip: its middle is the best guess
        self.offset = reply.now_us / US - (sent + answered) / 2
        self.interval = max(self.declared_interval, reply.interval_us / US)
        self.burst = reply.burst
        self.lowest = min(self.lowest, self.effective_rate)
        self._predicted = max(0, self._predicted - applied)
        if self._predicted:
            return  # the copy is ahead of this reply (a rejection on its way)
        adapt = self.adaptation
        if reply.decreases:
            adapt.low, adapt.ceiling, adapt.below = reply.low, reply.ceiling, reply.below
            adapt.since, adapt.burst = reply.since_us / US, reply.lowered_burst
            adapt.lowest = min(adapt.lowest, reply.low)
        else:  # the pace hash expired or was never written: the declared pace
            adapt.low = adapt.ceiling = adapt.declared_rate
            adapt.below, adapt.since, adapt.burst = False, -math.inf, adapt.declared_burst
        adapt.decreases = reply.decreases

    def drop_predictions(self, count: int) -> None:
        """``count`` predicted rejections will not reach Redis (the call failed): follow replies again."""
        self._predicted = max(0, self._predicted - count)

    def redis_time(self, loop_time: float) -> float:
        """``loop_time`` on Redis's clock (seconds); needs a reply first."""
        assert self.offset is not None
        return loop_time + self.offset

    def predict_rejection(self, now: float, sent_at: float) -> float | None:
        """A request sent at loop time ``sent_at`` was rejected (answer at loop time ``now``): the rate the
        script will lower the key's pace to, or ``None`` when it will not (sent before the last decrease)."""
        if self.offset is None:
            return None
        adapt = self.adaptation
        if not adapt.on_rejection(self.redis_time(now), self.redis_time(sent_at)):
            return None
        self._predicted += 1
        self.lowest = min(self.lowest, adapt.low)
        return adapt.low
