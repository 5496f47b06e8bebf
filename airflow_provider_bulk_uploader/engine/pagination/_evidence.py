"""Completeness: when a style stops a stream, does the last page say that more exists?

Every built-in style runs its decision through :func:`checked`. It keeps a per-stream tally of the records
received, stops a stream on an empty page (``stop_after_empty_page``) even when the page names a next one,
and turns a :class:`Stop` into a reported :class:`Broken` (stop reason ``"more indicated"``) when the page
says otherwise: a total of records above what the stream received, a total of pages above the pages
fetched, a ``Link: rel="last"`` beyond this page, a ``has_more``-like flag that is true, or a next URL,
cursor or token that was not followed. The paths it reads are the ``MORE_*`` tables of
:mod:`~..defaults`. A stop the user asked for (``max_pages``, ``maximum_offset``, ``maximum_page``) is never
questioned, and on an empty page only the totals count (APIs that keep returning a cursor on empty pages are
what ``stop_after_empty_page`` is for).
"""

from __future__ import annotations

from typing import Any

from .. import defaults
from ..urls import query_value
from ._found import expand, value_at
from ._steps import (
    HEADER_PREFIX,
    Broken,
    NextPage,
    Page,
    PageContext,
    Step,
    Stop,
    _as_int,
    _header,
    link_header_entries,
    read_count,
)

#: Stop reasons a user asked for: never questioned.
CAPS = frozenset({"max_pages", "maximum_offset reached", "maximum_page reached"})
#: The stream's stop reason when it stopped although the page said there is more.
MORE_INDICATED = "more indicated"
_TALLY = "_completeness"


def records_on(ctx: PageContext) -> int | None:
    """Records on the page when they can be counted: at ``record_path``, or a body that is a JSON list."""
    if ctx.counted:
        return ctx.records
    if isinstance(ctx.page.body, list):
        return len(ctx.page.body)
    return None


def _received(ctx: PageContext, records: int | None) -> int | None:
    """Records the stream received up to this page, or ``None`` when unknown (a page not counted, or not
    every earlier page seen in this run: a resumed stream)."""
    tally = ctx.memo.setdefault(_TALLY, {"pages": 0, "records": 0})
    tally["pages"] += 1
    if records is None or tally["records"] is None or tally["pages"] != ctx.number:
        tally["records"] = None
    else:
        tally["records"] += records
    received: int | None = tally["records"]
    return received


def checked(ctx: PageContext, step: Step, *, stop_after_empty_page: bool, records: int | None = None) -> Step:
    """``step`` (a style's decision after the page in ``ctx``) with the rules every style shares applied."""
    if records is None:
        records = records_on(ctx)
    received = _received(ctx, records)
    if isinstance(step, NextPage) and stop_after_empty_page and records == 0:
        step = Stop("empty page")
    if isinstance(step, Stop) and step.reason not in CAPS:
        sign = signs_of_more(ctx, received, empty=records == 0)
        if sign:
            pages = f"{ctx.number} page" + ("" if ctx.number == 1 else "s")
            return Broken(f"stream stopped after {pages} ({step.reason}) but {sign}", stop=MORE_INDICATED)
    return step


def _named(source: str) -> str:
    if source.lower().startswith(HEADER_PREFIX):
        return f"header {source[len(HEADER_PREFIX) :].strip()}"
    return f"the body's {source!r}"


def _position(page: Page, number: int) -> int:
    """The page's number: its page parameter when the URL has one (a stream may start past page 1), else its
    position in the stream."""
    for param in defaults.AUTO_PAGE_PARAMS:
        value = _as_int(query_value(page.url, param))
        if value is not None:
            return max(value, number)
    return number


def _beyond(last: str, page: Page) -> bool:
    """Whether the ``rel="last"`` link names a later page or offset than ``page``."""
    for params, first in ((defaults.AUTO_PAGE_PARAMS, 1), (defaults.AUTO_OFFSET_PARAMS, 0)):
        for param in params:
            value = _as_int(query_value(last, param))
            if value is not None:
                here = _as_int(query_value(page.url, param))
                return value > (first if here is None else here)
    return False


def _flags(page: Page, paths: tuple[str, ...]) -> list[tuple[str, Any]]:
    return [(p, v) for path in paths for p, v in expand(page.body, path) if isinstance(v, bool)]


def done_said(page: Page) -> bool:
    """Whether the page says outright that nothing follows (``has_more: false``, ``done: true`` …)."""
    return any(v is False for _, v in _flags(page, defaults.MORE_FLAGS)) or any(
        v is True for _, v in _flags(page, defaults.DONE_FLAGS)
    )


def signs_of_more(ctx: PageContext, received: int | None, *, empty: bool = False) -> str | None:
    """What in the page in ``ctx`` says the stream has more than it got (``None``: nothing does)."""
    page = ctx.page
    if received is not None:
        for source in defaults.MORE_TOTAL_RECORDS:
            total = read_count(page, source)
            if total is not None and total > received:
                return f"{_named(source)} says {total} records ({received} received)"
    for source in defaults.MORE_TOTAL_PAGES:
        total = read_count(page, source)
        if total is not None and total > _position(page, ctx.number):
            return f"{_named(source)} says {total} pages"
    links = link_header_entries(_header(page, "Link"))
    if "last" in links and _beyond(links["last"], page):
        return 'the Link header names a later last page (rel="last")'
    if empty or done_said(page):
        return None
    for path, value in _flags(page, defaults.MORE_FLAGS):
        if value is True:
            return f"the body says {path}=true"
    if links.get("next"):
        return 'the Link header names a next page (rel="next") that was not followed'
    for source in defaults.MORE_NEXT:
        value = value_at(page, source)
        if (isinstance(value, str) and value.strip()) or (
            isinstance(value, int) and not isinstance(value, bool)
        ):
            return f"{_named(source)} names a next page that was not followed"
    return None
