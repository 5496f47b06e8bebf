"""URL and interval generators: :func:`loading_urls`, :func:`id_iterator`, :func:`days_intervals`.

All validate their arguments when called (not lazily on first use) and stay lazy over their input, so
a million ids are never materialised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from .redaction import redact_url
from .validation import require_http_url, require_int

__all__ = ["URLs", "days_intervals", "id_iterator", "loading_urls", "require_absolute_url"]

D = TypeVar("D", date, datetime)


def require_absolute_url(url: str, *, argument: str = "url") -> str:
    """Return ``url`` if it has an http(s) scheme and a host; raise ``ValueError`` naming ``argument``."""
    return require_http_url(argument, url)


class URLs:
    """``base/id`` for each id: iterable as often as ``ids`` is, sized when ``ids`` is (which lets the
    engine report progress as done/total)."""

    def __init__(self, base: str, ids: Iterable[Any]):
        self.base = require_absolute_url(base, argument="base").rstrip("/")
        self.ids = ids

    def __iter__(self) -> Iterator[str]:
        prefix = self.base + "/"
        for ident in self.ids:
            yield prefix + str(ident).lstrip("/")

    def __len__(self) -> int:
        return len(self.ids)  # type: ignore[arg-type]  # TypeError when ids is unsized, as for any iterable

    def __repr__(self) -> str:
        return f"loading_urls({redact_url(self.base)!r}, {self.ids!r})"


def loading_urls(base: str, ids: Iterable[Any]) -> URLs:
    """URLs ``f"{base}/{id}"`` joined with exactly one ``/`` (``loading_urls("https://x/items", [1])``
    gives ``https://x/items/1``). ``base`` must be an absolute http(s) URL."""
    return URLs(base, ids)


def id_iterator(start: int, end: int, step: int = 1) -> range:
    """Integers from ``start`` up to but excluding ``end``, every ``step`` — like ``range``
    (``id_iterator(1, 100)`` gives 1..99). ``step`` must not be 0."""
    for name, value in (("start", start), ("end", end), ("step", step)):
        require_int(f"id_iterator {name}", value)
    if step == 0:
        raise ValueError("id_iterator step must not be 0")
    return range(start, end, step)


def days_intervals(start: D, end: D, delta_days: int = 1) -> Iterator[tuple[D, D]]:
    """Contiguous half-open chunks ``(chunk_start, chunk_end)`` of ``delta_days`` days covering
    ``[start, end)``; the last chunk is clipped to ``end``. Works for ``date`` and for ``datetime``
    (timezone-aware ones included, e.g. Airflow's pendulum data intervals). ``start == end`` gives none.

    Raises ``ValueError`` when ``delta_days < 1`` or ``end`` is before ``start``, ``TypeError`` when
    ``start`` and ``end`` are not of the same kind.
    """
    require_int("days_intervals delta_days", delta_days, 1)
    if not isinstance(start, date) or not isinstance(end, date):
        raise TypeError(f"days_intervals start and end must be dates or datetimes, got {start!r}, {end!r}")
    if isinstance(start, datetime) != isinstance(end, datetime):
        raise TypeError(
            f"days_intervals start and end must both be dates or both datetimes, got {start!r}, {end!r}"
        )
    if (
        isinstance(start, datetime)
        and isinstance(end, datetime)
        and (start.tzinfo is None) != (end.tzinfo is None)
    ):
        raise TypeError(f"days_intervals cannot mix naive and timezone-aware datetimes: {start!r}, {end!r}")
    if end < start:
        raise ValueError(f"days_intervals end ({end}) is before start ({start})")
    return _chunks(start, end, timedelta(days=delta_days))


def _chunks(start: D, end: D, step: timedelta) -> Iterator[tuple[D, D]]:
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(chunk_start + step, end)
        yield chunk_start, chunk_end
        chunk_start = chunk_end
