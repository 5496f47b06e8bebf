"""The response shapes ``auto`` knows: one row each, tried in order on a stream's first page.

A row says what a first page must hold (``when``: a source and a test of its value), which style walks
such an endpoint and with which parameters (literals, or :class:`Ref` values read from the page: the name
of the page parameter in the next link, the limit in the body …), and where the records are. A source is a
body path (one ``*`` step stands for any key, the same one in every path, parameter and records path of the
row: GraphQL's ``data.<field>``), ``"header:<name>"``, ``"link:<rel>"`` (an RFC 8288 ``Link`` header entry)
or ``"query:<name>"`` (a query parameter of the page's URL). :data:`SHAPES` lists the named frameworks and
APIs first, then the generic rows built from the ``AUTO_*`` path tables of :mod:`~..defaults`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from .. import defaults
from ..paths import MISSING
from ..urls import query_value
from ._found import ANY, expand, value_at
from ._steps import Page, _as_int, _header, link_header_entries
from ._styles import (
    CursorPaginator,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
)

# -- tests of a value -----------------------------------------------------------------------------------
Test = Callable[[Any], bool]


def LIST(v: Any) -> bool:
    return isinstance(v, list)


def INT(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def INT_OR_NULL(v: Any) -> bool:
    return v is None or INT(v)


def BOOL(v: Any) -> bool:
    return isinstance(v, bool)


def URL(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def URL_OR_NULL(v: Any) -> bool:
    return v is None or URL(v)


def NULL(v: Any) -> bool:
    return v is None


def PRESENT(v: Any) -> bool:
    return not isinstance(v, (dict, list))  # any scalar, null and "" included


def equals(expected: Any) -> Test:
    def test(v: Any) -> bool:
        return bool(v == expected)

    test.__name__ = f"equals({expected!r})"
    return test


# -- values read from the page ----------------------------------------------------------------------------


def _source(page: Page, source: str) -> Any:
    """``source`` in ``page`` (see the module doc), :data:`MISSING` when absent."""
    kind, _, name = source.partition(":")
    if kind == "link" and name:
        target = link_header_entries(_header(page, "Link")).get(name.lower())
        return MISSING if target is None else urljoin(page.url, target)
    if kind == "query" and name:
        value = query_value(page.url, name)
        return MISSING if value is None else value
    return value_at(page, source)


def _link_param(page: Page, link: str, names: tuple[str, ...]) -> tuple[str, int] | None:
    """The first of ``names`` the URL at ``link`` carries with a whole-number value, and that value."""
    url = _source(page, link)
    if not isinstance(url, str):
        return None
    for name in names:
        value = _as_int(query_value(urljoin(page.url, url), name))
        if value is not None:
            return name, value
    return None


@dataclass(frozen=True)
class Ref:
    """A parameter read from the first page; ``None`` from :meth:`resolve` means the row does not apply."""

    def resolve(self, page: Page) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class LinkParam(Ref):
    """The name of the page/offset/limit parameter the next link (``link``: a body path or ``"link:next"``)
    carries, the first of ``names``."""

    link: str
    names: tuple[str, ...]

    def resolve(self, page: Page) -> Any:
        found = _link_param(page, self.link, self.names)
        return None if found is None else found[0]


@dataclass(frozen=True)
class LinkValue(Ref):
    """The value of that parameter in the next link (the limit of a limit/offset link)."""

    link: str
    names: tuple[str, ...]

    def resolve(self, page: Page) -> Any:
        found = _link_param(page, self.link, self.names)
        return None if found is None or found[1] < 1 else found[1]


@dataclass(frozen=True)
class PageBefore(Ref):
    """The number of the page before the one the next link names: this (the first) page's number."""

    link: str
    names: tuple[str, ...]

    def resolve(self, page: Page) -> Any:
        found = _link_param(page, self.link, self.names)
        return None if found is None else max(0, found[1] - 1)


@dataclass(frozen=True)
class Whole(Ref):
    """A whole number >= 1 at ``source`` (a body path, ``"query:limit"`` …)."""

    source: str

    def resolve(self, page: Page) -> Any:
        value = _as_int(_source(page, self.source))
        return value if value is not None and value >= 1 else None


# -- the table ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One response shape: see the module doc."""

    name: str
    when: Mapping[str, Test]
    style: type[Paginator]
    params: Mapping[str, Any] = field(default_factory=dict)
    #: where the records are (``None``: found by :func:`._found.find_records`)
    records: str | None = None
    #: whether the style fans out from a total here (``auto(prefer_next_link=True)`` skips the row when the
    #: page also has a next link)
    fans_out: bool = False


_PAGES = defaults.AUTO_PAGE_PARAMS
_OFFSETS = defaults.AUTO_OFFSET_PARAMS
_LIMITS = defaults.AUTO_LIMIT_PARAMS

#: The named frameworks and APIs, most specific first.
NAMED: tuple[Shape, ...] = (
    Shape(
        "json-server 1.x",
        {"data": LIST, "first": INT, "last": INT, "pages": INT, "items": INT},
        PageNumberPaginator,
        {"base_page": 1, "page_param": "_page", "total_path": "pages"},
        "data",
        fans_out=True,
    ),
    Shape(
        "fastapi-pagination Page",
        {"items": LIST, "page": INT, "size": INT, "pages": INT_OR_NULL},
        PageNumberPaginator,
        {"base_page": 1, "page_param": "page", "total_path": "pages"},
        "items",
        fans_out=True,
    ),
    Shape(
        "fastapi-pagination LimitOffsetPage",
        {"items": LIST, "limit": INT, "offset": INT, "total": INT_OR_NULL},
        OffsetPaginator,
        {"limit": Whole("limit"), "total_path": "total"},
        "items",
        fans_out=True,
    ),
    Shape(
        "fastapi-pagination CursorPage",
        {"items": LIST, "next_page": PRESENT, "previous_page": PRESENT, "current_page": PRESENT},
        CursorPaginator,
        {"cursor_path": "next_page", "cursor_param": "cursor"},
        "items",
    ),
    Shape(
        "Spring Data Page",
        {"content": LIST, "totalPages": INT, "number": INT},
        PageNumberPaginator,
        {"base_page": 0, "page_param": "page", "total_path": "totalPages"},
        "content",
        fans_out=True,
    ),
    Shape(
        "Spring Data PagedModel",
        {"content": LIST, "page.totalPages": INT, "page.number": INT},
        PageNumberPaginator,
        {"base_page": 0, "page_param": "page", "total_path": "page.totalPages"},
        "content",
        fans_out=True,
    ),
    Shape(
        "Laravel paginator",
        {"data": LIST, "current_page": INT, "last_page": INT},
        PageNumberPaginator,
        {"base_page": 1, "page_param": "page", "total_path": "last_page"},
        "data",
        fans_out=True,
    ),
    Shape(
        "Django REST framework PageNumberPagination",
        {"count": INT, "next": URL, "results": LIST},
        PageNumberPaginator,
        {
            "base_page": PageBefore("next", _PAGES),
            "page_param": LinkParam("next", _PAGES),
            "total_path": None,
            "total_records_path": "count",
        },
        "results",
        fans_out=True,
    ),
    Shape(
        "Django REST framework LimitOffsetPagination",
        {"count": INT, "next": URL, "results": LIST},
        OffsetPaginator,
        {
            "limit": LinkValue("next", _LIMITS),
            "offset_param": LinkParam("next", _OFFSETS),
            "limit_param": LinkParam("next", _LIMITS),
            "total_path": "count",
        },
        "results",
        fans_out=True,
    ),
    Shape(
        "Django REST framework (CursorPagination, or the last page)",
        {"next": URL_OR_NULL, "previous": URL_OR_NULL, "results": LIST},
        JSONLinkPaginator,
        {"next_url_path": "next"},
        "results",
    ),
    Shape(
        "RFC 8288 Link with rel=last (GitHub, json-server 0.17)",
        {"link:next": URL, "link:last": URL},
        PageNumberPaginator,
        {
            "base_page": PageBefore("link:next", _PAGES),
            "page_param": LinkParam("link:next", _PAGES),
            "total_path": None,
        },
        fans_out=True,
    ),
    Shape(
        "RFC 8288 Link with X-Total-Count",
        {"link:next": URL, "header:X-Total-Count": INT_OR_NULL},
        PageNumberPaginator,
        {
            "base_page": PageBefore("link:next", _PAGES),
            "page_param": LinkParam("link:next", _PAGES),
            "total_path": None,
            "total_records_path": "header:X-Total-Count",
        },
        fans_out=True,
    ),
    Shape(
        "Stripe list",
        {"object": equals("list"), "data": LIST, "has_more": BOOL, "url": URL},
        CursorPaginator,
        {"cursor_path": "data.-1.id", "cursor_param": "starting_after", "has_more_path": "has_more"},
        "data",
    ),
    Shape(
        "Notion list",
        {"results": LIST, "has_more": BOOL, "next_cursor": PRESENT},
        CursorPaginator,
        {"cursor_path": "next_cursor", "cursor_param": "start_cursor", "has_more_path": "has_more"},
        "results",
    ),
    Shape(
        "Slack Web API",
        {"response_metadata.next_cursor": PRESENT},
        CursorPaginator,
        {"cursor_path": "response_metadata.next_cursor", "cursor_param": "cursor"},
    ),
    Shape(
        "Google APIs",
        {"nextPageToken": PRESENT},
        CursorPaginator,
        {"cursor_path": "nextPageToken", "cursor_param": "pageToken"},
    ),
    Shape(
        "Salesforce query",
        {"done": BOOL, "totalSize": INT, "records": LIST},
        JSONLinkPaginator,
        {"next_url_path": "nextRecordsUrl"},
        "records",
    ),
    Shape(
        "HubSpot CRM",
        {"paging.next.after": PRESENT},
        CursorPaginator,
        {"cursor_path": "paging.next.after", "cursor_param": "after"},
        "results",
    ),
    Shape(
        "Relay connection (GraphQL pageInfo)",
        {"data.*.pageInfo.hasNextPage": BOOL, "data.*.pageInfo.endCursor": PRESENT},
        CursorPaginator,
        {
            "cursor_path": "data.*.pageInfo.endCursor",
            "cursor_param": "after",
            "has_more_path": "data.*.pageInfo.hasNextPage",
        },
        "data.*.edges",
    ),
    Shape(
        "Relay connection (pageInfo at the top)",
        {"pageInfo.hasNextPage": BOOL, "pageInfo.endCursor": PRESENT},
        CursorPaginator,
        {
            "cursor_path": "pageInfo.endCursor",
            "cursor_param": "after",
            "has_more_path": "pageInfo.hasNextPage",
        },
        "edges",
    ),
)


def _generic() -> tuple[Shape, ...]:
    """The rows built from the ``AUTO_*`` path tables: a next URL with a total beside it, a ``Link`` header,
    a next URL, a total of pages, a total of records with a ``limit`` in the URL, a cursor, a cursor header,
    a null next URL."""
    rows: list[Shape] = []
    for path in defaults.AUTO_NEXT_URL_PATHS:
        for pages in defaults.AUTO_TOTAL_PAGES_PATHS:
            rows.append(
                Shape(
                    f"next URL at {path!r} with page numbers and {pages!r}",
                    {path: URL, pages: INT},
                    PageNumberPaginator,
                    {
                        "base_page": PageBefore(path, _PAGES),
                        "page_param": LinkParam(path, _PAGES),
                        "total_path": pages,
                    },
                    fans_out=True,
                )
            )
        for total in defaults.AUTO_TOTAL_RECORDS_PATHS:
            rows.append(
                Shape(
                    f"next URL at {path!r} with offsets and {total!r}",
                    {path: URL, total: INT},
                    OffsetPaginator,
                    {
                        "limit": LinkValue(path, _LIMITS),
                        "offset_param": LinkParam(path, _OFFSETS),
                        "limit_param": LinkParam(path, _LIMITS),
                        "total_path": total,
                    },
                    fans_out=True,
                )
            )
    rows.append(Shape("RFC 8288 Link rel=next", {"link:next": URL}, HeaderLinkPaginator))
    rows.extend(
        Shape(f"next URL at {p!r}", {p: URL}, JSONLinkPaginator, {"next_url_path": p})
        for p in defaults.AUTO_NEXT_URL_PATHS
    )
    rows.extend(
        Shape(
            f"total pages at {p!r}",
            {p: INT},
            PageNumberPaginator,
            {"base_page": defaults.AUTO_BASE_PAGE, "page_param": defaults.AUTO_PAGE_PARAM, "total_path": p},
            fans_out=True,
        )
        for p in defaults.AUTO_TOTAL_PAGES_PATHS
    )
    rows.extend(
        Shape(
            f"total records at {p!r} and a limit in the URL",
            {p: INT, f"query:{defaults.LIMIT_PARAM}": PRESENT},
            OffsetPaginator,
            {"limit": Whole(f"query:{defaults.LIMIT_PARAM}"), "total_path": p},
            fans_out=True,
        )
        for p in defaults.AUTO_TOTAL_RECORDS_PATHS
    )
    rows.extend(
        Shape(
            f"cursor at {p!r}",
            {p: URL_OR_INT},
            CursorPaginator,
            {"cursor_path": p, "cursor_param": defaults.CURSOR_PARAM},
        )
        for p in defaults.AUTO_CURSOR_PATHS
    )
    rows.extend(
        Shape(
            f"cursor in header {h}",
            {f"header:{h}": URL},
            HeaderCursorPaginator,
            {"cursor_key": h, "cursor_param": defaults.CURSOR_PARAM},
        )
        for h in defaults.AUTO_CURSOR_HEADERS
    )
    rows.extend(
        Shape(f"null next URL at {p!r}", {p: NULL}, JSONLinkPaginator, {"next_url_path": p})
        for p in defaults.AUTO_NEXT_URL_PATHS
    )
    return tuple(rows)


def URL_OR_INT(v: Any) -> bool:
    """A cursor value: a non-empty string or a number."""
    return URL(v) or INT(v)


#: Every row, in the order ``auto`` tries them.
SHAPES: tuple[Shape, ...] = NAMED + _generic()


# -- matching ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """A row that fits a first page: the paginator built for it and where the records are."""

    shape: Shape
    paginator: Paginator
    records: str | None


def _bind(text: str, key: str | None) -> str:
    if key is None or ANY not in text.split("."):
        return text
    return ".".join(key if part == ANY else part for part in text.split("."))


def _keys(shape: Shape, page: Page) -> list[str | None]:
    """What the row's ``*`` may stand for on this page (``[None]`` for a row without one)."""
    pattern = next((p for p in shape.when if ANY in p.split(".")), None)
    if pattern is None:
        return [None]
    at = pattern.split(".").index(ANY)
    return [concrete.split(".")[at] for concrete, _ in expand(page.body, pattern)]


def match(shape: Shape, page: Page) -> Match | None:
    """The :class:`Match` of ``shape`` on ``page``, or ``None`` when the page does not fit the row."""
    for key in _keys(shape, page):
        if not all(
            (v := _source(page, _bind(s, key))) is not MISSING and test(v) for s, test in shape.when.items()
        ):
            continue
        params: dict[str, Any] = {}
        for name, value in shape.params.items():
            value = value.resolve(page) if isinstance(value, Ref) else value
            if value is None and isinstance(shape.params[name], Ref):
                break
            params[name] = _bind(value, key) if isinstance(value, str) else value
        else:
            try:
                paginator = shape.style(**params)
            except (TypeError, ValueError):
                continue
            return Match(shape, paginator, None if shape.records is None else _bind(shape.records, key))
    return None


def has_next_link(page: Page) -> bool:
    """Whether the page names a next URL (a ``Link: rel="next"`` header or a body path of
    :data:`~..defaults.AUTO_NEXT_URL_PATHS`)."""
    if "next" in link_header_entries(_header(page, "Link")):
        return True
    return any(URL(value_at(page, p)) for p in defaults.AUTO_NEXT_URL_PATHS)
