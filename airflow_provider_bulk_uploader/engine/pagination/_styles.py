"""The strategies: one small class per pagination style (names as in dlt's REST client)."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar
from urllib.parse import urljoin

from .. import defaults
from ..paths import MISSING, lookup
from ..urls import QueryTemplate, query_value, with_query
from ._evidence import checked
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
    _require_source,
    _require_text,
    link_header_entries,
    link_header_next,
    read_count,
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


class _Style(Paginator):
    """A built-in style: :meth:`decide` says what the style itself sees; :meth:`next_step` adds what every
    style shares (:func:`._evidence.checked`): the stop on an empty page and the check that a stream is
    not stopped while its last page says there is more."""

    stop_after_empty_page: bool = True

    def decide(self, ctx: PageContext) -> Step:
        raise NotImplementedError

    def next_step(self, ctx: PageContext) -> Step:
        return checked(ctx, self.decide(ctx), stop_after_empty_page=self.stop_after_empty_page)


class SinglePagePaginator(Paginator):
    """Every start URL is one page (what a run without a paginator does, plus per-stream counts). A declared
    single page is not questioned; ``auto`` that falls back to one checks it for signs of more."""

    type = "single_page"

    def next_step(self, ctx: PageContext) -> Step:
        return Stop("single page")


class JSONLinkPaginator(_Style):
    """The next page's URL is in the body at ``next_url_path`` (default ``"next"``; ``"links.next"``...).
    A relative URL is resolved against the page's URL. Stops when the value is missing, null or empty, or
    after an empty page (``stop_after_empty_page``, default true)."""

    type = "json_link"

    def __init__(
        self,
        next_url_path: str = defaults.NEXT_URL_PATH,
        stop_after_empty_page: bool = True,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.next_url_path = _require_path("next_url_path", next_url_path)
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)

    def decide(self, ctx: PageContext) -> Step:
        target = lookup(ctx.page.body, self.next_url_path)
        if not _present(target):
            return Stop("no next link")
        if not isinstance(target, str):
            return Broken(f"json_link: the value at {self.next_url_path!r} is not a URL string")
        return NextPage(urljoin(ctx.page.url, target))


class HeaderLinkPaginator(_Style):
    """The next page's URL is the RFC 8288 ``Link`` header entry with ``rel="next"`` (``links_next_key``).
    Stops without one, or after an empty page (``stop_after_empty_page``, default true)."""

    type = "header_link"

    def __init__(
        self,
        links_next_key: str = defaults.LINKS_NEXT_KEY,
        stop_after_empty_page: bool = True,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.links_next_key = _require_text("links_next_key", links_next_key)
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)

    def decide(self, ctx: PageContext) -> Step:
        target = link_header_next(_header(ctx.page, "Link"), self.links_next_key)
        if not target:
            return Stop("no next link")
        return NextPage(urljoin(ctx.page.url, target))


def _has_more(page: Page, path: str | None) -> bool | None:
    """The flag at ``has_more_path`` (``True``/``False``; ``"true"``/``"false"`` strings too), or ``None``."""
    if path is None:
        return None
    value = lookup(page.body, path)
    if isinstance(value, str):
        value = {"true": True, "false": False}.get(value.strip().lower())
    return value if isinstance(value, bool) else None


class CursorPaginator(_Style):
    """The next cursor is in the body at ``cursor_path`` (default ``"cursors.next"``; a negative index counts
    from a list's end: ``"data.-1.id"`` is the last record's id, as Stripe's ``starting_after`` wants) and
    goes back as query parameter ``cursor_param`` (default ``"cursor"``) — or, with ``cursor_body_path``
    (dlt's name, e.g. ``"variables.after"``), into the request's JSON body at that path (the same URL and
    method again: a GraphQL connection). Stops when there is no cursor, when the flag at ``has_more_path``
    (optional; e.g. ``"data.repository.issues.pageInfo.hasNextPage"``; a response without it is a broken
    stream, not a silent stop) is false, or after an empty page (``stop_after_empty_page``, default true: some
    APIs return a cursor on every page, the empty ones included)."""

    type = "cursor"
    #: (class defaults: :class:`HeaderCursorPaginator` has neither)
    cursor_body_path: str | None = None
    has_more_path: str | None = None

    def __init__(
        self,
        cursor_path: str = defaults.CURSOR_PATH,
        cursor_param: str = defaults.CURSOR_PARAM,
        has_more_path: str | None = None,
        stop_after_empty_page: bool = True,
        cursor_body_path: str | None = None,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.cursor_path = _require_path("cursor_path", cursor_path)
        self.cursor_param = _require_text("cursor_param", cursor_param)
        if has_more_path is not None:
            self.has_more_path = _require_path("has_more_path", has_more_path)
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)
        if cursor_body_path is not None:
            self.cursor_body_path = _require_path("cursor_body_path", cursor_body_path)

    def cursor(self, page: Page) -> Any:
        return lookup(page.body, self.cursor_path)

    def decide(self, ctx: PageContext) -> Step:
        if self.has_more_path is not None:
            more = _has_more(ctx.page, self.has_more_path)
            if more is None and lookup(ctx.page.body, self.has_more_path) is MISSING:
                return Broken(f"{self.type}: no {self.has_more_path!r} (has_more_path) in the response")
            if not more:
                return Stop("has_more false")
        cursor = self.cursor(ctx.page)
        if not _present(cursor):
            return Stop("no next cursor")
        if isinstance(cursor, (dict, list)):
            return Broken(f"{self.type}: the cursor at {self.cursor_path!r} is not a string or number")
        if self.cursor_body_path is not None:
            return NextBody(self.cursor_body_path, cursor)
        # every page of the stream differs from the first only in the cursor: its URL is parsed once
        template = ctx.memo.get("cursor_url")
        if template is None:
            template = ctx.memo["cursor_url"] = QueryTemplate(ctx.page.url, self.cursor_param)
        return NextPage(template.url(cursor))


class HeaderCursorPaginator(CursorPaginator):
    """The next cursor is in response header ``cursor_key`` (default ``"next"``) and goes back as query
    parameter ``cursor_param`` (default ``"cursor"``). Stops when the header is absent or empty, or after an
    empty page (``stop_after_empty_page``, default true)."""

    type = "header_cursor"

    def __init__(
        self,
        cursor_key: str = defaults.CURSOR_KEY,
        cursor_param: str = defaults.CURSOR_PARAM,
        stop_after_empty_page: bool = True,
        *,
        max_pages: int | None = None,
    ):
        Paginator.__init__(self, max_pages=max_pages)
        self.cursor_key = _require_text("cursor_key", cursor_key)
        self.cursor_param = _require_text("cursor_param", cursor_param)
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)

    def cursor(self, page: Page) -> Any:
        value = _header(page, self.cursor_key)
        return MISSING if value is None else value


def _last_link_value(page: Page, param: str) -> int | None:
    """The value of query parameter ``param`` in the page's ``Link: <...>; rel="last"`` (RFC 8288)."""
    last = link_header_entries(_header(page, "Link")).get("last")
    return None if last is None else _as_int(query_value(urljoin(page.url, last), param))


class OffsetPaginator(_Style):
    """``offset``/``limit`` query parameters. The first request asks for ``offset`` (default 0). When the
    first page gives the total number of records — at ``total_path`` (default ``"total"``; a body path, or
    ``"header:X-Total-Count"`` for a response header; ``None`` = never look), or as the offset of the
    ``Link: rel="last"`` page — every remaining page is fanned out at once, in parallel (stepping by the
    records the first page held when the server gave fewer than ``limit``: it caps the page size). Without a
    total the next offset is requested after each page, until a short or (``stop_after_empty_page``) empty
    page, or a false flag at ``has_more_path``. ``maximum_offset`` caps the offsets.

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
        has_more_path: str | None = None,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.limit = _require_int("limit", limit, 1)
        self.offset = _require_int("offset", offset, 0)
        self.offset_param = _require_text("offset_param", offset_param)
        self.limit_param = _require_text("limit_param", limit_param)
        self.total_path = _require_source("total_path", total_path)
        self.maximum_offset = (
            None if maximum_offset is None else _require_int("maximum_offset", maximum_offset, 0)
        )
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)
        self.has_more_path = None if has_more_path is None else _require_path("has_more_path", has_more_path)

    def first_url(self, url: str) -> str:
        return with_query(url, {self.offset_param: self.offset, self.limit_param: self.limit})

    def _offset_of(self, url: str) -> int:
        return _as_int(query_value(url, self.offset_param)) or 0

    def total(self, page: Page) -> int | None:
        """The total number of records the page gives (``total_path``, else the ``rel="last"`` offset)."""
        total = read_count(page, self.total_path)
        if total is None:
            last = _last_link_value(page, self.offset_param)
            total = None if last is None else last + 1
        return total

    def decide(self, ctx: PageContext) -> Step:
        page, limit = ctx.page, self.limit
        offset = self._offset_of(page.url)
        total = self.total(page)
        end = total
        if self.maximum_offset is not None:
            end = self.maximum_offset if end is None else min(end, self.maximum_offset)
        if ctx.number == 1 and total is not None:  # the total is known: every other page at once
            step = ctx.records if 0 < ctx.records < limit and offset + ctx.records < total else limit
            stop_at = total if self.maximum_offset is None else min(total, self.maximum_offset)
            offsets = range(offset + step, stop_at, step)
            base = with_query(page.url, {self.limit_param: step})
            reason = "total reached" if stop_at == total else "maximum_offset reached"
            return FanOut(
                (with_query(base, {self.offset_param: o}) for o in offsets),
                len(offsets),
                reason,
                (base, self.offset_param, offsets),
            )
        if ctx.records == 0 and self.stop_after_empty_page:
            return Stop("empty page")
        if _has_more(page, self.has_more_path) is False:
            return Stop("has_more false")
        if ctx.records < limit:
            return Stop("short page")
        following = offset + limit
        if end is not None and following >= end:
            return Stop("total reached" if total is not None else "maximum_offset reached")
        return NextPage(with_query(page.url, {self.offset_param: following}))


class PageNumberPaginator(_Style):
    """``page`` query parameter (``page_param``) counted from ``base_page`` (default 0; first request:
    ``page``, default ``base_page``). When the first page tells how many pages there are, every remaining page
    is fanned out at once, in parallel. It tells it by the total number of *pages* at ``total_path`` (default
    ``"total"``), by the total number of *records* at ``total_records_path`` (divided by the records on the
    first page; it wins over ``total_path`` when both are found), or by the page number of the
    ``Link: rel="last"`` page; each path is a body path or ``"header:<name>"`` (``None`` = never look).
    Without a total the next page is requested after each page until an empty page
    (``stop_after_empty_page``) or a false flag at ``has_more_path``. ``maximum_page`` caps the page
    numbers."""

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
        total_records_path: str | None = None,
        has_more_path: str | None = None,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.base_page = _require_int("base_page", base_page, 0)
        self.page = None if page is None else _require_int("page", page, 0)
        self.page_param = _require_text("page_param", page_param)
        self.total_path = _require_source("total_path", total_path)
        self.maximum_page = None if maximum_page is None else _require_int("maximum_page", maximum_page, 0)
        self.stop_after_empty_page = _require_bool("stop_after_empty_page", stop_after_empty_page)
        self.total_records_path = _require_source("total_records_path", total_records_path)
        self.has_more_path = None if has_more_path is None else _require_path("has_more_path", has_more_path)

    def first_url(self, url: str) -> str:
        return with_query(url, {self.page_param: self.base_page if self.page is None else self.page})

    def total(self, page: Page, size: int) -> int | None:
        """How many pages there are, by what the page gives (see the class; ``size``: records on a full
        page), or ``None``."""
        total_records = read_count(page, self.total_records_path)
        if total_records is not None:
            if total_records <= 0:
                return 0
            return -(-total_records // size) if size > 0 else None
        pages = read_count(page, self.total_path)
        if pages is None:
            last = _last_link_value(page, self.page_param)
            pages = None if last is None else last - self.base_page + 1
        return pages

    def decide(self, ctx: PageContext) -> Step:
        page = ctx.page
        number = _as_int(query_value(page.url, self.page_param))
        number = self.base_page if number is None else number
        if ctx.number == 1:  # the page size, for a record total: the first page's (a later one may be short)
            ctx.memo.setdefault("page_size", ctx.records)
        total = self.total(page, ctx.memo.get("page_size", ctx.records))
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
        if _has_more(page, self.has_more_path) is False:
            return Stop("has_more false")
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
