"""What a run did: counts, failures with their reasons, time taken, and pages and records per stream."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Failure", "FetchReport", "StreamReport"]


@dataclass(frozen=True)
class Failure:
    """One URL that ended without a stored record.

    :param url: the URL with credentials redacted.
    :param status: the last HTTP status, or ``None`` when no response arrived (connection error, timeout).
    :param error: why, redacted (safe to log).
    :param attempts: requests made for this URL, retries included.
    :param stream: with a paginator: the start URL of the stream the page belongs to (redacted).
    :param stream_incomplete: with a paginator: whether the stream lost pages because of this failure.
    :param method: the request's method when it was not a plain ``GET`` (``None``: a GET).
    :param ids: the ids the request carried (a batch lookup's chunk), or ``None``.
    """

    url: str
    status: int | None
    error: str
    attempts: int
    stream: str | None = None
    stream_incomplete: bool | None = None
    method: str | None = None
    ids: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form; the stream fields only when the failure belongs to a paginated stream, the
        method and ids only when the request had them."""
        out = asdict(self)
        if self.stream is None:
            del out["stream"], out["stream_incomplete"]
        if self.method is None:
            del out["method"]
        if self.ids is None:
            del out["ids"]
        else:
            out["ids"] = list(self.ids)
        return out


@dataclass
class StreamReport:
    """One start URL of a paginated run and what came of it.

    :param url: the start URL (redacted).
    :param pages: pages stored.
    :param records: records on those pages (at ``record_path``; 1 per page without one).
    :param complete: every page of the stream was stored (``False`` after a failed page, a loop, a broken
        ``auto`` detection, or a stop while the last page said there is more).
    :param stop: why the stream ended (``"no next link"``, ``"empty page"``, ``"total reached"``,
        ``"max_pages"``, ``"loop"``, ``"page failed"``, ``"more indicated"`` …).
    :param style: the paginator type that walked it (for ``auto``: the one it chose).
    """

    url: str
    pages: int = 0
    records: int = 0
    complete: bool = True
    stop: str = ""
    style: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FetchReport:
    """Returned by :meth:`UploadedData.run`. Every URL taken from ``url_maker`` is counted in
    ``requested`` and ends either in ``succeeded`` (its record was handed to the store exactly once) or
    in ``failed`` (and in ``failures``).

    With a paginator every *page* counts as one URL in ``requested``/``succeeded``/``failed``, and
    ``streams`` holds one :class:`StreamReport` per start URL."""

    requested: int = 0
    succeeded: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    #: requests sent, retries included
    attempts: int = 0
    #: wall-clock seconds from start to end of the run
    elapsed_seconds: float = 0.0
    #: with a paginator: one entry per start URL, in the order the streams started
    streams: list[StreamReport] = field(default_factory=list)
    #: whether the run was paginated (``UploadedData(paginator=...)``)
    paginated: bool = False
    #: ids carried by requests (batch lookups: a :class:`~.requests.Request` with ``ids``): taken, in
    #: requests that succeeded, in requests that failed for good
    ids_requested: int = 0
    ids_succeeded: int = 0
    ids_failed: int = 0
    #: 429 and 503 answers (each retried under the policy, and counted in ``attempts``)
    rejections: int = 0
    #: with a rate limit: the lowest pace used, in requests per second — the declared rate unless rejections
    #: made the limiter lower it (``Ratelimit(adaptive=True)``); ``None`` without a rate limit
    effective_rate_min: float | None = None

    @property
    def requests_per_second(self) -> float:
        """Requests sent (retries included) per second of wall-clock time."""
        return self.attempts / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    @property
    def pages(self) -> int:
        """Pages stored (with a paginator; equals ``succeeded``)."""
        return sum(s.pages for s in self.streams)

    @property
    def records(self) -> int:
        """Records on the stored pages (with a paginator)."""
        return sum(s.records for s in self.streams)

    @property
    def styles(self) -> dict[str, int]:
        """Streams per paginator style (``"auto:<type>"`` for what ``auto`` chose), over every stream."""
        out: dict[str, int] = {}
        for s in self.streams:
            out[s.style] = out.get(s.style, 0) + 1
        return out

    @property
    def incomplete_streams(self) -> int:
        """Streams that lost at least one page."""
        return sum(1 for s in self.streams if not s.complete)

    def to_dict(self, *, max_failures: int | None = None, max_streams: int | None = None) -> dict[str, Any]:
        """JSON-safe form; ``max_failures`` keeps only the first N failure records, ``max_streams`` the
        first N stream records (all by default; the totals always cover every stream)."""
        failures = self.failures if max_failures is None else self.failures[:max_failures]
        out: dict[str, Any] = {
            "requested": self.requested,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "attempts": self.attempts,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            **self.rate_limit_dict(),
            "failures": [f.to_dict() for f in failures],
        }
        if self.paginated:
            out.update(self.pagination_dict(max_streams=max_streams))
        if self.ids_requested:
            out["ids"] = self.ids_dict()
        return out

    def ids_dict(self) -> dict[str, int]:
        """Ids carried by the requests: requested, in succeeded and in failed requests."""
        return {"requested": self.ids_requested, "succeeded": self.ids_succeeded, "failed": self.ids_failed}

    def rate_limit_dict(self) -> dict[str, Any]:
        """``rejections`` (429/503 answers) and ``effective_rate_min`` (requests per second, 3 decimals;
        ``None`` without a rate limit): how the server's limit and the limiter's adaptation went."""
        lowest = self.effective_rate_min
        return {
            "rejections": self.rejections,
            "effective_rate_min": None if lowest is None else round(lowest, 3),
        }

    def pagination_dict(self, *, max_streams: int | None = None) -> dict[str, Any]:
        """Pages and records in total and per stream (the first ``max_streams`` streams only, when given)."""
        streams = self.streams if max_streams is None else self.streams[:max_streams]
        return {
            "pages": self.pages,
            "records": self.records,
            "streams": len(self.streams),
            "incomplete_streams": self.incomplete_streams,
            "styles": self.styles,
            "per_stream": [s.to_dict() for s in streams],
            "per_stream_truncated": len(streams) < len(self.streams),
        }

    def __str__(self) -> str:
        text = (
            f"{self.succeeded}/{self.requested} succeeded, {self.failed} failed, {self.attempts} requests "
            f"in {self.elapsed_seconds:.1f} s ({self.requests_per_second:.0f} req/s)"
        )
        if self.ids_requested:
            text += f"; ids {self.ids_succeeded}/{self.ids_requested} fetched, {self.ids_failed} failed"
        if self.paginated:
            text += (
                f"; {len(self.streams)} stream(s), {self.pages} pages, {self.records} records, "
                f"{self.incomplete_streams} incomplete"
            )
        return text
