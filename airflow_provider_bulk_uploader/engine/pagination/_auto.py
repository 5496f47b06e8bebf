"""``auto``: the style of each stream, detected from its first response."""

from __future__ import annotations

import logging
from urllib.parse import urljoin

from .. import defaults
from ..paths import lookup
from ..urls import query_value
from ._steps import (
    Broken,
    Page,
    PageContext,
    Step,
    _as_int,
    _header,
    _present,
    link_header_next,
)
from ._styles import (
    CursorPaginator,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    SinglePagePaginator,
)

logger = logging.getLogger("airflow_provider_bulk_uploader")


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
