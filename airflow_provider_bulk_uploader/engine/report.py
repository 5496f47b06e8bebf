"""What a run did: counts, failures with their reasons, time taken."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Failure", "FetchReport"]


@dataclass(frozen=True)
class Failure:
    """One URL that ended without a stored record.

    :param url: the URL with credentials redacted.
    :param status: the last HTTP status, or ``None`` when no response arrived (connection error, timeout).
    :param error: why, redacted (safe to log).
    :param attempts: requests made for this URL, retries included.
    """

    url: str
    status: int | None
    error: str
    attempts: int


@dataclass
class FetchReport:
    """Returned by :meth:`UploadedData.run`. Every URL taken from ``url_maker`` is counted in
    ``requested`` and ends either in ``succeeded`` (its record was handed to the store exactly once) or
    in ``failed`` (and in ``failures``)."""

    requested: int = 0
    succeeded: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    #: requests sent, retries included
    attempts: int = 0
    #: wall-clock seconds from start to end of the run
    elapsed_seconds: float = 0.0

    @property
    def requests_per_second(self) -> float:
        """Requests sent (retries included) per second of wall-clock time."""
        return self.attempts / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def to_dict(self, *, max_failures: int | None = None) -> dict[str, Any]:
        """JSON-safe form; ``max_failures`` keeps only the first N failure records (all by default)."""
        failures = self.failures if max_failures is None else self.failures[:max_failures]
        return {
            "requested": self.requested,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "attempts": self.attempts,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "failures": [asdict(f) for f in failures],
        }

    def __str__(self) -> str:
        return (
            f"{self.succeeded}/{self.requested} succeeded, {self.failed} failed, {self.attempts} requests "
            f"in {self.elapsed_seconds:.1f} s ({self.requests_per_second:.0f} req/s)"
        )
