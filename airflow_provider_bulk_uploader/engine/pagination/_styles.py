"""The strategies: one small class per pagination style (names as in dlt's REST client)."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar
from urllib.parse import urljoin

from .. import defaults
from ..paths import MISSING, lookup
from ..urls import query_value, with_query
from ._steps import (
    Broken,
    FanOut,
    NextBody,
    NextPage,
    Page,
    PageContext,
    Step,
    Stop,
    _as_int,
    _header,
    _present,
    _require_bool,
    _require_int,
    _require_path,
    _require_text,
    link_header_next,
)


class Paginator:
    """Base class. Subclasses set :attr:`type` and implement :meth:`next_step`.

    :param max_pages: stop a stream after this many pages (``None``: no cap). The stream is then complete
        with stop reason ``"max_pages"``.
    """

    #: The name in the dict form (``{"type": ...}``).
    type: ClassVar[str] = ""
    #: Whether the paginator counts records to stop (on an empty or short page): needs ``record_path``.
    counts_records: ClassVar[bool] = False

    def __init__(self, *, max_pages: int | None = None) -> None:
        if max_pages is not None and (isinstance(max_pages, bool) or not isinstance(max_pages, int)):
            raise ValueError(f"max_pages must be a whole number >= 1 or None, got {max_pages!r}")
        if max_pages is not None and max_pages < 1:
            raise ValueError(f"max_pages must be >= 1, got {max_pages!r}")
        self.max_pages = max_pages

    def first_url(self, url: str) -> str:
        """The URL of a stream's first request (offset and page number add their parameters)."""
        return url

    def next_step(self, ctx: PageContext) -> Step:
        """What follows the page in ``ctx``."""
        raise NotImplementedError

    @classmethod
    def parameters(cls) -> dict[str, Any]:
        """The constructor's parameters and their defaults (``inspect.Parameter.empty`` when required):
        exactly the keys the dict form accepts besides ``"type"``."""
        signature = inspect.signature(cls.__init__)
        return {name: p.default for name, p in signature.parameters.items() if name != "self"}

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form :func:`paginator_from` accepts (survives DAG serialization): the type and
        every parameter that differs from its default."""
        out: dict[str, Any] = {"type": self.type}
        for name, default in self.parameters().items():
            value = getattr(self, name)
            if default is inspect.Parameter.empty or value != default:
                out[name] = value
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paginator) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"


class SinglePagePaginator(Paginator):
    """Every start URL is one page (what a run without a paginator does, plus per-stream counts)."""

    type = "single_page"

    def next_step(self, ctx: PageContext) -> Step:
        return Stop("single page")


class JSONLinkPaginator(Paginator):
    """The next page's URL is in the body at ``next_url_path`` (default ``"next"``; ``"links.next"``...).
    A relative URL is resolved against the page's URL. Stops when the value is missing, null or empty."""

    type = "json_link"

    def __init__(self, next_url_path: str = defaults.NEXT_URL_PATH, *, max_pages: int | None = None):
        super().__init__(max_pages=max_pages)
        self.next_url_path = _require_path("next_url_path", next_url_path)

    def next_step(self, ctx: PageContext) -> Step:
        target = lookup(ctx.page.body, self.next_url_path)
        if not _present(target):
            return Stop("no next link")
        if not isinstance(target, str):
            return Broken(f"json_link: the value at {self.next_url_path!r} is not a URL string")
        return NextPage(urljoin(ctx.page.url, target))


class HeaderLinkPaginator(Paginator):
    """The next page's URL is the RFC 8288 ``Link`` header entry with ``rel="next"`` (``links_next_key``)."""

    type = "header_link"

    def __init__(self, links_next_key: str = defaults.LINKS_NEXT_KEY, *, max_pages: int | None = None):
        super().__init__(max_pages=max_pages)
        self.links_next_key = _require_text("links_next_key", links_next_key)

    def next_step(self, ctx: PageContext) -> Step:
        target = link_header_next(_header(ctx.page, "Link"), self.links_next_key)
        if not target:
            return Stop("no next link")
        return NextPage(urljoin(ctx.page.url, target))


class CursorPaginator(Paginator):
    """The next cursor is in the body at ``cursor_path`` (default ``"cursors.next"``) and goes back as query
    parameter ``cursor_param`` (default ``"cursor"``) — or, with ``cursor_body_path`` (dlt's name, e.g.
    ``"variables.after"``), into the request's JSON body at that path (the same URL and method again: a
    GraphQL connection). Stops when there is no cursor, or when the body at ``has_more_path`` (e.g.
    ``"data.repository.issues.pageInfo.hasNextPage"``) is false."""

    type = "cursor"
    #: (class defaults: :class:`HeaderCursorPaginator` has neither)
    cursor_body_path: str | None = None
    has_more_path: str | None = None

    def __init__(
        self,
        cursor_path: str = defaults.CURSOR_PATH,
        cursor_param: str = defaults.CURSOR_PARAM,
        cursor_body_path: str | None = None,
        has_more_path: str | None = None,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.cursor_path = _require_path("cursor_path", cursor_path)
        self.cursor_param = _require_text("cursor_param", cursor_param)
        if cursor_body_path is not None:
            self.cursor_body_path = _require_path("cursor_body_path", cursor_body_path)
        if has_more_path is not None:
            self.has_more_path = _require_path("has_more_path", has_more_path)

    def cursor(self, page: Page) -> Any:
        return lookup(page.body, self.cursor_path)

    def next_step(self, ctx: PageContext) -> Step:
        if self.has_more_path is not None:
            more = lookup(ctx.page.body, self.has_more_path)
            if more is MISSING:
                return Broken(f"{self.type}: no {self.has_more_path!r} (has_more_path) in the response")
            if more is False or more is None:
                return Stop("has_more false")
        cursor = self.cursor(ctx.page)
        if not _present(cursor):
            return Stop("no next cursor")
        if isinstance(cursor, (dict, list)):
            return Broken(f"{self.type}: the cursor at {self.cursor_path!r} is not a string or number")
        if self.cursor_body_path is not None:
            return NextBody(self.cursor_body_path, cursor)
        return NextPage(with_query(ctx.page.url, {self.cursor_param: cursor}))


class HeaderCursorPaginator(CursorPaginator):
    """The next cursor is in response header ``cursor_key`` (default ``"next"``) and goes back as query
    parameter ``cursor_param`` (default ``"cursor"``). Stops when the header is absent or empty."""

    type = "header_cursor"

    def __init__(
        self,
        cursor_key: str = defaults.CURSOR_KEY,
        cursor_param: str = defaults.CURSOR_PARAM,
        *,
        max_pages: int | None = None,
    ):
        Paginator.__init__(self, max_pages=max_pages)
        self.cursor_key = _require_text("cursor_key", cursor_key)
        self.cursor_param = _require_text("cursor_param", cursor_param)

    def cursor(self, page: Page) -> Any:
        value = _header(page, self.cursor_key)
        return MISSING if value is None else value


class OffsetPaginator(Paginator):
    """``offset``/``limit`` query parameters. The first request asks for ``offset`` (default 0); when the
    first body has a total number of records at ``total_path`` (default ``"total"``; ``None`` = never look)
    every remaining page is fanned out at once, in parallel; without one the next offset is requested after
    each page, until a short or (``stop_after_empty_page``) empty page. ``maximum_offset`` caps the offsets.

    :param limit: records per page (required); sent as ``limit_param`` (default ``"limit"``).
    """

    type = "offset"
    counts_records = True

    def __init__(
        self,
        limit: int,
        offset: int = defaults.OFFSET,
        offset_param: str = defaults.OFFSET_PARAM,
        limit_param: str = defaults.LIMIT_PARAM,
        total_path: str | None = defaults.TOTAL_PATH,
        maximum_offset: int | None = None,
        stop_after_empty_page: bool = True,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.limit = _require_int("limit", limit, 1)
        self.offset = _require_int("offset", offset, 0)
        self.offset_param = _require_text("offset_param", offset_param)
        self.limit_param = _require_text("limit_param", limit_param)
        self.total_path = None if total_path is None else _require_path("total_path", total_path)
        self.maximum_offset = (
            None if maximum_offset is None else _require_int("maximum_offset", maximum_offset, 0)
        )
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)

    def first_url(self, url: str) -> str:
        return with_query(url, {self.offset_param: self.offset, self.limit_param: self.limit})

    def _offset_of(self, url: str) -> int:
        return _as_int(query_value(url, self.offset_param)) or 0

    def next_step(self, ctx: PageContext) -> Step:
        page, limit = ctx.page, self.limit
        offset = self._offset_of(page.url)
        total = _as_int(lookup(page.body, self.total_path)) if self.total_path else None
        end = total
        if self.maximum_offset is not None:
            end = self.maximum_offset if end is None else min(end, self.maximum_offset)
        if ctx.number == 1 and total is not None:  # the total is known: every other page at once
            stop_at = total if self.maximum_offset is None else min(total, self.maximum_offset)
            offsets = range(offset + limit, stop_at, limit)
            base = page.url
            reason = "total reached" if stop_at == total else "maximum_offset reached"
            return FanOut(
                (with_query(base, {self.offset_param: o}) for o in offsets),
                len(offsets),
                reason,
                (base, self.offset_param, offsets),
            )
        if ctx.records == 0 and self.stop_after_empty_page:
            return Stop("empty page")
        if ctx.records < limit:
            return Stop("short page")
        following = offset + limit
        if end is not None and following >= end:
            return Stop("total reached" if total is not None else "maximum_offset reached")
        return NextPage(with_query(page.url, {self.offset_param: following}))


class PageNumberPaginator(Paginator):
    """``page`` query parameter (``page_param``) counted from ``base_page`` (default 0; first request:
    ``page``, default ``base_page``). When the first body has the total number of *pages* at ``total_path``
    (default ``"total"``; ``None`` = never look) every remaining page is fanned out at once, in parallel;
    without one the next page is requested after each page until an empty page (``stop_after_empty_page``).
    ``maximum_page`` caps the page numbers."""

    type = "page_number"
    counts_records = True

    def __init__(
        self,
        base_page: int = defaults.BASE_PAGE,
        page: int | None = None,
        page_param: str = defaults.PAGE_PARAM,
        total_path: str | None = defaults.TOTAL_PATH,
        maximum_page: int | None = None,
        stop_after_empty_page: bool = True,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.base_page = _require_int("base_page", base_page, 0)
        self.page = None if page is None else _require_int("page", page, 0)
        self.page_param = _require_text("page_param", page_param)
        self.total_path = None if total_path is None else _require_path("total_path", total_path)
        self.maximum_page = None if maximum_page is None else _require_int("maximum_page", maximum_page, 0)
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)

    def first_url(self, url: str) -> str:
        return with_query(url, {self.page_param: self.base_page if self.page is None else self.page})

    def next_step(self, ctx: PageContext) -> Step:
        page = ctx.page
        number = _as_int(query_value(page.url, self.page_param))
        number = self.base_page if number is None else number
        total = _as_int(lookup(page.body, self.total_path)) if self.total_path else None
        last = None if total is None else self.base_page + total - 1  # the last page's number
        if self.maximum_page is not None:
            last = self.maximum_page if last is None else min(last, self.maximum_page)
        if ctx.number == 1 and total is not None:  # the total is known: every other page at once
            final = self.base_page + total - 1
            stop_at = final if self.maximum_page is None else min(final, self.maximum_page)
            numbers = range(number + 1, stop_at + 1)
            base = page.url
            reason = "total reached" if stop_at == final else "maximum_page reached"
            return FanOut(
                (with_query(base, {self.page_param: n}) for n in numbers),
                len(numbers),
                reason,
                (base, self.page_param, numbers),
            )
        if ctx.records == 0 and self.stop_after_empty_page:
            return Stop("empty page")
        if last is not None and number >= last:
            return Stop("total reached" if total is not None else "maximum_page reached")
        return NextPage(with_query(page.url, {self.page_param: number + 1}))


#: Every concrete style, in the order the dict form lists them (``auto`` lives in :mod:`._auto`).
STYLES: tuple[type[Paginator], ...] = (
    JSONLinkPaginator,
    HeaderLinkPaginator,
    CursorPaginator,
    HeaderCursorPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    SinglePagePaginator,
)
