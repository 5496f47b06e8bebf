"""What the demo API saw: one record per request, counters, and the busiest window of arrivals."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def max_in_window(arrivals: Sequence[float], window_seconds: float) -> int:
    """Largest number of arrivals inside any half-open window ``[t, t + window_seconds)``.

    ``arrivals`` are ``time.monotonic()`` stamps (any order). A client that promises "at most N
    requests per period" must satisfy ``max_in_window(api.arrivals, period) <= N``.
    """
    if window_seconds <= 0:
        raise ValueError("window_seconds must be > 0")
    times = sorted(arrivals)
    best = 0
    for i, t in enumerate(times):
        # windows starting at an arrival are the worst case
        j = bisect.bisect_left(times, t + window_seconds, lo=i)
        best = max(best, j - i)
    return best


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (headers and query kept so tests can check credentials)."""

    arrival: float  # time.monotonic() when the handler chain started
    method: str
    path: str  # the raw path, e.g. "/items/42"
    route: str  # the route template, e.g. "/items/{id}" ("<unmatched>" for 404s on unknown paths)
    query: dict[str, str]
    headers: dict[str, str]
    status: int  # DROPPED (0) for /drop
    body: bytes | None = None  # a POST/PUT/PATCH request's body


@dataclass
class Stats:
    """Counters since start (or the last reset). ``by_path`` is keyed by route template."""

    total: int = 0
    by_path: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    by_path_status: Counter[tuple[str, int]] = field(default_factory=Counter)
    rate_limited: int = 0  # 429s from the server's own limiter
    faults: int = 0  # injected 503/429 faults
    in_flight: int = 0
    max_in_flight: int = 0

    def to_dict(self) -> dict[str, Any]:
        nested: dict[str, dict[str, int]] = {}
        for (path, status), n in sorted(self.by_path_status.items()):
            nested.setdefault(path, {})[str(status)] = n
        return {
            "total": self.total,
            "by_path": dict(sorted(self.by_path.items())),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_path_status": nested,
            "rate_limited": self.rate_limited,
            "faults": self.faults,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
        }
