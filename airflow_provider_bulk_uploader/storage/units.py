"""Units of progress and their arithmetic: which of a plan's URLs (and which pages of a stream) are stored.

A *unit* is one request URL of the operator's plan, keyed by its ordinal in the plan. Sets of units are kept
as sorted, merged inclusive ``[first, last]`` ranges (10 000 units fetched roughly in order take a few bytes).
A partly stored paginated stream is a ``streams`` entry: its stored page positions (ranges) and ``last``, the
furthest stored page that decided what follows it, with that decision (see
:class:`~airflow_provider_bulk_uploader.engine.interfaces.PageSource`). Pure functions, no Airflow, no I/O:
:mod:`.checkpoint` records them, the engine consumes :class:`RemainingUnits`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_bulk_uploader.engine.interfaces import ResumePage, StartURL
from airflow_provider_bulk_uploader.engine.requests import Request
from airflow_provider_bulk_uploader.engine.urls import with_query

__all__ = ["RemainingUnits", "count_units", "merge_ranges", "stream_pages"]


def merge_ranges(ranges: Iterable[Iterable[int]], units: Iterable[int] = ()) -> list[list[int]]:
    """Sorted, merged inclusive ``[first, last]`` ranges covering ``ranges`` and the single ``units``."""
    spans = sorted([(int(a), int(b)) for a, b in ranges] + [(u, u) for u in units])
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return merged


def count_units(ranges: Iterable[Iterable[int]]) -> int:
    """How many units the inclusive ``[first, last]`` ``ranges`` cover (they must not overlap)."""
    return sum(b - a + 1 for a, b in ranges)


def stream_pages(entry: Mapping[str, Any]) -> list[ResumePage] | None:
    """The pages a partly stored stream continues with, from its ``streams`` entry: ``[]`` when nothing it
    decided is stored (start at the first page), ``None`` when every page is stored (the stream is
    complete)."""
    last = entry.get("last")
    if not last:
        return []
    number, after = int(last[0]), last[1]
    if after == "end":
        return None
    if isinstance(after, dict) and "next" in after:
        return [ResumePage(str(after["next"]), number + 1, True, after.get("body"))]
    if isinstance(after, dict) and "fanout" in after:
        stored = merge_ranges(entry.get("stored") or [])
        first, spec = int(after["first"]), after["fanout"]
        if isinstance(spec, dict):
            values = range(*spec["values"])
            urls: Any = (with_query(spec["base"], {spec["param"]: v}) for v in values)
        else:
            urls = iter(spec)
        pages = [
            ResumePage(url, position, False)
            for position, url in enumerate(urls, start=first)
            if not any(a <= position <= b for a, b in stored)
        ]
        return pages or None
    return []


class RemainingUnits:
    """The plan's URLs as :class:`~airflow_provider_bulk_uploader.engine.interfaces.StartURL` (unit = the
    URL's ordinal; a request plan's requests as ``Request`` objects with that unit), without the units in
    ``done`` (sized, re-iterable, lazy); a stream in ``resume`` carries the pages it continues with as
    ``resume_pages``."""

    def __init__(
        self,
        plan: Any,  # a sized, re-iterable sequence of URLs (a UrlPlan)
        done: list[list[int]],
        resume: Mapping[int, list[ResumePage]] | None = None,
    ) -> None:
        self.plan = plan
        self.done = done
        self.resume = resume or {}
        self.total = len(plan)

    def __len__(self) -> int:
        total = self.total
        return total - count_units([a, min(b, total - 1)] for a, b in self.done if a < total)

    def __iter__(self) -> Iterator[StartURL | Request]:
        spans = iter(self.done)
        span = next(spans, None)
        resume = self.resume
        for index, url in enumerate(self.plan):
            while span is not None and span[1] < index:
                span = next(spans, None)
            if span is not None and span[0] <= index:
                continue
            if isinstance(url, Request):  # a request plan: the request carries its unit
                yield url.with_unit(index, resume.get(index, ()))
            else:
                yield StartURL(url, index, resume.get(index, ()))
