"""Adapting a limiter's pace when the declared quota is wrong: AIMD on the loop clock.

A rejection (429, or 503) that does not say when to come back lowers the effective rate multiplicatively
(x :data:`~.defaults.ADAPTIVE_DECREASE_FACTOR`, 0.7 as in the AWS SDKs' "adaptive" retry mode) and the
burst with it. While no rejection comes the rate climbs back additively, in three steps:

1. quickly (:data:`~.defaults.ADAPTIVE_RECOVERY_PER_SECOND` of the declared rate per second) back to the
   rate that was rejected — or, when the rejection came at (or beyond) the rate the previous climb had
   gone back to, so that rate is too high and not an unlucky moment (a request that met a busy gateway, a
   new connection), to just below it (:data:`~.defaults.ADAPTIVE_MARGIN`);
2. there it holds for :data:`~.defaults.ADAPTIVE_PROBE_AFTER_SECONDS` when the limit was found that way;
3. then it probes upward (:data:`~.defaults.ADAPTIVE_PROBE_PER_SECOND` of the declared rate per second;
   at once after an unconfirmed rejection) until the next rejection or the declared rate, never above it.
   The burst comes back when the rate is back at the declared one.

A rejection of a request that was sent before (or at) the last decrease is no new signal (it was sent at
the old rate, like a second loss in the same TCP window): it lowers nothing. Rejections that keep coming
after a decrease (a meter that remembers a period, as HAProxy's, and counts the rejected requests too)
keep lowering it: the fastest way out of such a meter's penalty is to send little; the probe finds the
limit again from below.

:class:`AdaptiveRate` is plain state and arithmetic of clock readings (no asyncio, no I/O), so that a
limiter shared through Redis can apply the same rules to a state kept there (see ``rate_at`` and
``on_rejection``: a few multiplications and comparisons).
"""

from __future__ import annotations

import math

from . import defaults

__all__ = ["AdaptiveRate"]


class AdaptiveRate:
    """The effective rate and burst of one declared quota, lowered on rejections and climbing back.

    :param declared_rate: requests per second declared (``Ratelimit.requests_per_second``); never exceeded.
    :param declared_burst: the declared burst (``Ratelimit.effective_burst``).

    The other parameters default to :mod:`.defaults` (``ADAPTIVE_*``); rates are requests per second and
    times are readings of one clock in seconds (the event loop's).
    """

    __slots__ = (
        "below",
        "burst",
        "ceiling",
        "declared_burst",
        "declared_rate",
        "decrease",
        "decreases",
        "floor",
        "low",
        "lowest",
        "margin",
        "probe",
        "probe_after",
        "recovery",
        "since",
    )

    def __init__(
        self,
        declared_rate: float,
        declared_burst: int,
        *,
        decrease: float = defaults.ADAPTIVE_DECREASE_FACTOR,
        recovery: float = defaults.ADAPTIVE_RECOVERY_PER_SECOND,
        margin: float = defaults.ADAPTIVE_MARGIN,
        probe_after: float = defaults.ADAPTIVE_PROBE_AFTER_SECONDS,
        probe: float = defaults.ADAPTIVE_PROBE_PER_SECOND,
        min_fraction: float = defaults.ADAPTIVE_MIN_RATE_FRACTION,
    ) -> None:
        if not declared_rate > 0 or not math.isfinite(declared_rate):
            raise ValueError(f"AdaptiveRate declared_rate must be a positive number, got {declared_rate!r}")
        if not 0 < decrease < 1 - margin < 1:
            raise ValueError(f"AdaptiveRate decrease must be in (0, 1 - margin), got {decrease!r}")
        self.declared_rate = float(declared_rate)
        self.declared_burst = max(1, int(declared_burst))
        self.decrease, self.recovery, self.margin = decrease, recovery, margin
        self.probe_after, self.probe = probe_after, probe
        self.floor = declared_rate * min_fraction
        #: the rate right after the last decrease, and the rate at which that rejection came
        self.low = self.ceiling = self.declared_rate
        #: the burst since the last decrease (the declared one once the rate is back)
        self.burst = self.declared_burst
        #: whether the rate climbs back to just below ``ceiling`` (it was rejected there twice) or to it
        self.below = False
        #: clock reading of the last decrease (``-inf``: never lowered)
        self.since = -math.inf
        #: the lowest rate used so far, and how many times the rate was lowered
        self.lowest = self.declared_rate
        self.decreases = 0

    @property
    def lowered(self) -> bool:
        """Whether a rejection ever lowered the rate (until then :meth:`rate_at` is the declared rate)."""
        return self.decreases > 0

    def rate_at(self, now: float) -> float:
        """The effective rate at clock reading ``now`` (requests per second)."""
        if not self.decreases:
            return self.declared_rate
        declared, step = self.declared_rate, self.recovery * self.declared_rate
        target = self.target
        elapsed = now - self.since
        rate = self.low + step * elapsed
        if rate >= target:
            beyond = elapsed - (target - self.low) / step - (self.probe_after if self.below else 0.0)
            rate = target + self.probe * declared * max(0.0, beyond)
        return min(declared, rate)

    @property
    def target(self) -> float:
        """The rate the climb after the last decrease holds at (requests per second)."""
        return max(self.low, self.ceiling * (1.0 - self.margin) if self.below else self.ceiling)

    def burst_at(self, now: float) -> int:
        """The effective burst at ``now``: the lowered one until the rate is back at the declared rate."""
        if not self.decreases or self.rate_at(now) >= self.declared_rate:
            return self.declared_burst
        return self.burst

    def on_rejection(self, now: float, sent_at: float) -> bool:
        """A request sent at ``sent_at`` was rejected (the answer came at ``now``): lower the rate and the
        burst, unless it was sent before the last decrease. Return whether they were lowered."""
        if sent_at <= self.since:
            return False
        current, burst = self.rate_at(now), self.burst_at(now)
        # rejected again once back at the rate of the last rejection: that rate is too high
        self.below = self.decreases > 0 and current >= self.target * (1.0 - 1e-9)
        self.ceiling = current
        self.low = max(self.floor, min(current, current * self.decrease))
        self.burst = max(1, int(burst * self.decrease))
        self.since = now
        self.lowest = min(self.lowest, self.low)
        self.decreases += 1
        return True

    def __repr__(self) -> str:
        return (
            f"AdaptiveRate(declared {self.declared_rate:g}/s burst {self.declared_burst}, "
            f"{self.decreases} decrease(s), lowest {self.lowest:.3g}/s)"
        )
