"""Paginators: small strategy objects that say which page of a list endpoint to fetch next.

The model is tenacity's: each paginator is a tiny immutable object with one job, usable from plain Python,
and a plain ``dict`` names the same thing (``{"type": "cursor", "cursor_path": "meta.next_cursor"}``) with
the vocabulary of dlt's REST client: ``json_link``, ``header_link``, ``cursor``, ``header_cursor``,
``offset``, ``page_number``, ``single_page`` and ``auto``. :func:`paginator_from` is the one parser (the
engine's ``UploadedData(paginator=...)`` and the operator's ``pagination=...`` both use it).

The engine turns each start URL into a *stream* of pages. After every page it calls
:meth:`Paginator.next_step` with a :class:`PageContext` and gets one of:

* :class:`NextPage` — one URL to fetch after this one (links, cursors, offset without a total);
* :class:`FanOut` — every remaining page at once (offset/page number once the total is known): the engine
  fetches them in parallel, bounded by its rate limit and concurrency;
* :class:`Stop` — the stream is complete (no next link, empty page, short page, total reached);
* :class:`Broken` — the stream cannot go on (``auto`` saw conflicting signals): a reported failure.

The engine itself stops a stream at ``max_pages`` and detects loops (the same next URL twice).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from . import defaults
from .paths import MISSING, lookup

__all__ = [
    "PAGINATOR_PARAMETERS",
    "PAGINATOR_TYPES",
    "AutoPaginator",
    "Broken",
    "CursorPaginator",
    "FanOut",
    "HeaderCursorPaginator",
    "HeaderLinkPaginator",
    "JSONLinkPaginator",
    "NextPage",
    "OffsetPaginator",
    "Page",
    "PageContext",
    "PageNumberPaginator",
    "Paginator",
    "SinglePagePaginator",
    "Stop",
    "paginator_from",
]

logger = logging.getLogger("airflow_provider_bulk_uploader")


# -- what a paginator sees and says -----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One fetched page: the URL it was requested at, its parsed JSON body and its response headers
    (a case-insensitive mapping; empty for custom ``api_call_factory`` calls, which return bodies only)."""

    url: str
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PageContext:
    """What :meth:`Paginator.next_step` gets after each page of a stream.

    :param start_url: the stream's first URL (as given, before the paginator's first-page parameters).
    :param page: the page just fetched.
    :param number: its position in the stream, 1 for the first page.
    :param records: records on the page (at the run's ``record_path``; 1 per page without one).
    :param memo: per-stream scratch space for a paginator (``auto`` keeps its choice there).
    """

    start_url: str
    page: Page
    number: int
    records: int
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NextPage:
    """Fetch ``url`` next (sequentially: its response decides what comes after it)."""

    url: str


@dataclass(frozen=True)
class FanOut:
    """Every remaining page of the stream: ``count`` URLs from ``urls``, fetched in parallel."""

    urls: Iterator[str]
    count: int
    reason: str = "total reached"


@dataclass(frozen=True)
class Stop:
    """The stream is complete; ``reason`` says why (``"no next link"``, ``"empty page"`` …)."""

    reason: str


@dataclass(frozen=True)
class Broken:
    """The stream cannot continue; ``error`` is reported as a failure and the stream marked incomplete."""

    error: str


Step = NextPage | FanOut | Stop | Broken


# -- helpers ------------------------------------------------------------------------------------------------


def with_query(url: str, params: Mapping[str, Any]) -> str:
    """``url`` with each of ``params`` set: an existing parameter keeps its place (its first occurrence; any
    repeat is dropped), a new one is appended; the other parameters are kept as they are."""
    parts = urlsplit(url)
    pairs: list[tuple[str, str]] = []
    done: set[str] = set()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in params:
            if key in done:
                continue
            value = str(params[key])
            done.add(key)
        pairs.append((key, value))
    pairs.extend((k, str(v)) for k, v in params.items() if k not in done)
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def query_value(url: str, name: str) -> str | None:
    """The first value of query parameter ``name`` in ``url``, or ``None``."""
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key == name:
            return value
    return None


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r""";\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.I)


def link_header_next(value: str | None, rel: str = defaults.LINKS_NEXT_KEY) -> str | None:
    """The target of the ``rel`` entry (default ``next``) of an RFC 8288 ``Link`` header, or ``None``."""
    if not value:
        return None
    for match in _LINK.finditer(value):
        target, params = match.group(1), match.group(2)
        for rel_match in _REL.finditer(params):
            rels = (rel_match.group(1) or rel_match.group(2) or "").lower().split()
            if rel.lower() in rels:
                return target.strip()
    return None


def _header(page: Page, name: str) -> str | None:
    getter = getattr(page.headers, "get", None)
    return getter(name) if getter is not None else None


def _present(value: Any) -> bool:
    return value is not MISSING and value is not None and value != ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


# -- the strategies -----------------------------------------------------------------------------------------


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

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form :func:`paginator_from` accepts (survives DAG serialization)."""
        out: dict[str, Any] = {"type": self.type}
        for name in PAGINATOR_PARAMETERS[self.type]:
            value = getattr(self, name)
            if value != _DEFAULTS[self.type].get(name, MISSING):
                out[name] = list(value) if isinstance(value, tuple) else value
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
    parameter ``cursor_param`` (default ``"cursor"``). Stops when there is no cursor."""

    type = "cursor"

    def __init__(
        self,
        cursor_path: str = defaults.CURSOR_PATH,
        cursor_param: str = defaults.CURSOR_PARAM,
        *,
        max_pages: int | None = None,
    ):
        super().__init__(max_pages=max_pages)
        self.cursor_path = _require_path("cursor_path", cursor_path)
        self.cursor_param = _require_text("cursor_param", cursor_param)

    def cursor(self, page: Page) -> Any:
        return lookup(page.body, self.cursor_path)

    def next_step(self, ctx: PageContext) -> Step:
        cursor = self.cursor(ctx.page)
        if not _present(cursor):
            return Stop("no next cursor")
        if isinstance(cursor, (dict, list)):
            return Broken(f"{self.type}: the cursor at {self.cursor_path!r} is not a string or number")
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
        end = total if total is not None else None
        if self.maximum_offset is not None:
            end = self.maximum_offset if end is None else min(end, self.maximum_offset)
        if ctx.number == 1 and end is not None:
            offsets = range(offset + limit, end, limit)
            base = page.url
            return FanOut(
                (with_query(base, {self.offset_param: o}) for o in offsets),
                len(offsets),
                "total reached" if total is not None else "maximum_offset reached",
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
        if ctx.number == 1 and last is not None:
            numbers = range(number + 1, last + 1)
            base = page.url
            return FanOut(
                (with_query(base, {self.page_param: n}) for n in numbers),
                len(numbers),
                "total reached" if total is not None else "maximum_page reached",
            )
        if ctx.records == 0 and self.stop_after_empty_page:
            return Stop("empty page")
        if last is not None and number >= last:
            return Stop("total reached" if total is not None else "maximum_page reached")
        return NextPage(with_query(page.url, {self.page_param: number + 1}))


class AutoPaginator(Paginator):
    """Detect the style from each stream's first response: a ``Link: <...>; rel="next"`` header, then a next
    URL in the body (``next``, ``links.next`` ...), then a total number of pages (``total_pages``,
    ``meta.total_pages`` ...; page number parameter ``page`` from 1), then a total number of records when
    the start URL has a ``limit`` parameter (``offset``), then a cursor (``next_cursor``,
    ``meta.next_cursor`` ...  or an ``X-Next-Cursor`` header; sent back as ``cursor``). The choice is logged
    once per style. Two different next URLs, or two different cursors, make the stream a reported failure
    instead of a guess. Without any signal the start URL is a single page."""

    type = "auto"

    def next_step(self, ctx: PageContext) -> Step:
        chosen = ctx.memo.get("auto")
        if chosen is None:
            detected = detect(ctx.page)
            if isinstance(detected, Broken):
                return detected
            chosen = ctx.memo["auto"] = detected
            _log_choice(chosen)
        step: Step = chosen.next_step(ctx)
        return step


_logged_choices: set[str] = set()


def _log_choice(chosen: Paginator) -> None:
    text = repr(chosen)
    if text not in _logged_choices:
        _logged_choices.add(text)
        logger.info("pagination auto: chose %s from the first response", text)


def detect(page: Page) -> Paginator | Broken:
    """The paginator ``auto`` picks for a stream whose first page is ``page`` (see :class:`AutoPaginator`)."""
    body = page.body
    link = link_header_next(_header(page, "Link"))
    urls = {p: v for p in defaults.AUTO_NEXT_URL_PATHS if isinstance(v := lookup(body, p), str) and v}
    distinct_urls = {urljoin(page.url, v) for v in urls.values()}
    if link and distinct_urls and distinct_urls != {urljoin(page.url, link)}:
        return Broken(
            "pagination auto: the Link header and the body name different next pages "
            f"(body paths {sorted(urls)}); set pagination explicitly"
        )
    if len(distinct_urls) > 1:
        return Broken(
            f"pagination auto: the body names different next pages at {sorted(urls)}; "
            "set pagination explicitly"
        )
    if link:
        return HeaderLinkPaginator()
    if urls:
        return JSONLinkPaginator(next(iter(urls)))
    # a next-URL key that is present but null: the last (or only) page of a json_link stream
    nulls = [p for p in defaults.AUTO_NEXT_URL_PATHS if lookup(body, p) is None]
    for path in defaults.AUTO_TOTAL_PAGES_PATHS:
        if _as_int(lookup(body, path)) is not None:
            return PageNumberPaginator(
                base_page=defaults.AUTO_BASE_PAGE, page_param=defaults.AUTO_PAGE_PARAM, total_path=path
            )
    limit = _as_int(query_value(page.url, defaults.LIMIT_PARAM))
    if limit is not None and limit > 0:
        for path in defaults.AUTO_TOTAL_RECORDS_PATHS:
            if _as_int(lookup(body, path)) is not None:
                return OffsetPaginator(limit=limit, total_path=path)
    cursors = {p: v for p in defaults.AUTO_CURSOR_PATHS if _present(v := lookup(body, p))}
    headers = {h: v for h in defaults.AUTO_CURSOR_HEADERS if (v := _header(page, h))}
    values = {str(v) for v in cursors.values()} | set(headers.values())
    if len(values) > 1:
        return Broken(
            f"pagination auto: different cursors at {sorted(cursors) + sorted(headers)}; "
            "set pagination explicitly"
        )
    if cursors:
        return CursorPaginator(next(iter(cursors)), defaults.CURSOR_PARAM)
    if headers:
        return HeaderCursorPaginator(next(iter(headers)), defaults.CURSOR_PARAM)
    if nulls:
        return JSONLinkPaginator(nulls[0])
    return SinglePagePaginator()


# -- the one parser ---------------------------------------------------------------------------------------

_CLASSES: dict[str, type[Paginator]] = {
    cls.type: cls
    for cls in (
        JSONLinkPaginator,
        HeaderLinkPaginator,
        CursorPaginator,
        HeaderCursorPaginator,
        OffsetPaginator,
        PageNumberPaginator,
        SinglePagePaginator,
        AutoPaginator,
    )
}
#: The names the dict form's ``"type"`` accepts.
PAGINATOR_TYPES: tuple[str, ...] = tuple(_CLASSES)

#: The parameters each type's dict form accepts besides ``"type"``.
PAGINATOR_PARAMETERS: dict[str, tuple[str, ...]] = {
    "json_link": ("next_url_path", "max_pages"),
    "header_link": ("links_next_key", "max_pages"),
    "cursor": ("cursor_path", "cursor_param", "max_pages"),
    "header_cursor": ("cursor_key", "cursor_param", "max_pages"),
    "offset": (
        "limit",
        "offset",
        "offset_param",
        "limit_param",
        "total_path",
        "maximum_offset",
        "stop_after_empty_page",
        "max_pages",
    ),
    "page_number": (
        "base_page",
        "page",
        "page_param",
        "total_path",
        "maximum_page",
        "stop_after_empty_page",
        "max_pages",
    ),
    "single_page": ("max_pages",),
    "auto": ("max_pages",),
}
_INTPAGINATOR_PARAMETERS = frozenset(
    {"limit", "offset", "maximum_offset", "base_page", "page", "maximum_page", "max_pages"}
)
_DEFAULTS: dict[str, dict[str, Any]] = {
    "json_link": {"next_url_path": defaults.NEXT_URL_PATH, "max_pages": None},
    "header_link": {"links_next_key": defaults.LINKS_NEXT_KEY, "max_pages": None},
    "cursor": {"cursor_path": defaults.CURSOR_PATH, "cursor_param": defaults.CURSOR_PARAM, "max_pages": None},
    "header_cursor": {
        "cursor_key": defaults.CURSOR_KEY,
        "cursor_param": defaults.CURSOR_PARAM,
        "max_pages": None,
    },
    "offset": {
        "offset": defaults.OFFSET,
        "offset_param": defaults.OFFSET_PARAM,
        "limit_param": defaults.LIMIT_PARAM,
        "total_path": defaults.TOTAL_PATH,
        "maximum_offset": None,
        "stop_after_empty_page": True,
        "max_pages": None,
    },
    "page_number": {
        "base_page": defaults.BASE_PAGE,
        "page": None,
        "page_param": defaults.PAGE_PARAM,
        "total_path": defaults.TOTAL_PATH,
        "maximum_page": None,
        "stop_after_empty_page": True,
        "max_pages": None,
    },
    "single_page": {"max_pages": None},
    "auto": {"max_pages": None},
}


def paginator_from(spec: Any, *, argument: str = "paginator") -> Paginator | None:
    """A :class:`Paginator` from ``spec``: ``None``, a paginator object, a type name (``"auto"``,
    ``"header_link"`` …: the defaults of that type) or a dict ``{"type": ..., <parameters>}``. Whole-number
    parameters may be given as strings (what a rendered template gives).

    :raises ValueError: naming the key and the value that are wrong (``argument`` prefixes the message).
    """
    if spec is None or isinstance(spec, Paginator):
        return spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"{argument} must be a paginator, one of {list(PAGINATOR_TYPES)} or a dict with a 'type', "
            f"got {type(spec).__name__}"
        )
    kind = spec.get("type")
    if isinstance(kind, str):
        kind = kind.strip().lower()
    if kind not in _CLASSES:
        raise ValueError(f"{argument}['type'] must be one of {list(PAGINATOR_TYPES)}, got {kind!r}")
    allowed = PAGINATOR_PARAMETERS[kind]
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type":
            continue
        if key not in allowed:
            raise ValueError(
                f"{argument}: unknown key {key!r} (value {value!r}) for type {kind!r}; "
                f"allowed: {list(allowed)}"
            )
        if key in _INTPAGINATOR_PARAMETERS and isinstance(value, str) and _as_int(value) is not None:
            value = _as_int(value)
        if key == "stop_after_empty_page" and isinstance(value, str):
            value = {"true": True, "false": False}.get(value.strip().lower(), value)
        kwargs[key] = value
    if kind == "offset" and "limit" not in kwargs:
        raise ValueError(f"{argument}: type 'offset' needs 'limit' (records per page)")
    try:
        return _CLASSES[kind](**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument} ({kind}): {exc}") from None


# -- argument checks ---------------------------------------------------------------------------------------


def _require_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _require_path(name: str, value: Any) -> str:
    text = _require_text(name, value)
    if any(not part for part in text.split(".")) and text != ".":
        raise ValueError(f"{name} must be a dotted key path like 'meta.next_cursor', got {value!r}")
    return text


def _require_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _require_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value
