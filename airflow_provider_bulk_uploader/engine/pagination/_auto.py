"""``auto``: the style of each stream, detected from its first response by the rows of :mod:`._shapes`."""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import urljoin

from .. import defaults
from ..paths import lookup
from ..redaction import redact_url
from ._evidence import checked
from ._found import count_at, find_records
from ._shapes import SHAPES, Match, Shape, has_next_link, match
from ._steps import (
    Broken,
    Page,
    PageContext,
    Step,
    _header,
    _present,
    _require_bool,
    link_header_next,
)
from ._styles import Paginator, SinglePagePaginator

logger = logging.getLogger("airflow_provider_bulk_uploader")

_SINGLE = "no pagination signal (a single page)"


class AutoPaginator(Paginator):
    """Detect the style from each stream's first response, by the first row of
    :data:`._shapes.SHAPES` that fits it: the named frameworks and APIs (Django REST framework,
    fastapi-pagination, json-server, Spring Data, Laravel, GitHub-style ``Link`` headers, Stripe, Notion,
    Slack, Google, Salesforce, HubSpot, Relay ``pageInfo``), then the generic signals (a ``Link`` header, a
    next URL in the body, a total of pages, a total of records with a ``limit`` in the URL, a cursor in the
    body or a header). A known total fans the pages out in parallel even when the page also has a next
    link, unless ``prefer_next_link`` (for APIs whose totals are estimates). Without ``record_path`` the
    records are found in the body (``results``, ``items``, ``data``, ``content`` …) to count them.

    The choice is logged once per style per run, when a stream starts, and recorded in the stream's report
    (``style="auto:<type>"``). Two different next URLs, or two different cursors, make the stream a reported
    failure instead of a guess; a page with no signal is a single page — reported incomplete, not complete,
    when it says there is more (a total above its records, ``has_more: true``, a next token).
    """

    type = "auto"

    def __init__(
        self, prefer_next_link: bool = defaults.AUTO_PREFER_NEXT_LINK, *, max_pages: int | None = None
    ):
        super().__init__(max_pages=max_pages)
        self.prefer_next_link = _require_bool("prefer_next_link", prefer_next_link)

    def next_step(self, ctx: PageContext) -> Step:
        chosen = ctx.memo.get("auto")
        if chosen is None:
            found = detect_shape(ctx.page, prefer_next_link=self.prefer_next_link)
            if isinstance(found, Broken):
                return found
            chosen = ctx.memo["auto"] = found.paginator
            ctx.memo["auto_records"] = found.records or find_records(ctx.page.body)
            _log_choice(ctx, found)
        if not ctx.counted:
            records = count_at(ctx.page.body, ctx.memo.get("auto_records"))
            if records is not None:
                ctx = replace(ctx, records=records, counted=True)
        step: Step = chosen.next_step(ctx)
        if isinstance(chosen, SinglePagePaginator):  # auto's fallback is checked like any style
            step = checked(ctx, step, stop_after_empty_page=False)
        return step


def _log_choice(ctx: PageContext, found: Match) -> None:
    """Log what auto chose, once per choice and run (``ctx.run``) as the stream that first made it starts."""
    text = repr(found.paginator)
    logged = ctx.run.setdefault("auto_logged", set())
    if text not in logged:
        logged.add(text)
        logger.info(
            "pagination auto: chose %s (%s) from the first response of %s",
            text,
            found.shape.name,
            redact_url(ctx.start_url),
        )


def _conflict(page: Page) -> Broken | None:
    """Two signals that name different next pages or cursors: auto refuses to guess."""
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
    cursors = {p: v for p in defaults.AUTO_CURSOR_PATHS if _present(v := lookup(body, p))}
    headers = {h: v for h in defaults.AUTO_CURSOR_HEADERS if (v := _header(page, h))}
    if len({str(v) for v in cursors.values()} | set(headers.values())) > 1:
        return Broken(
            f"pagination auto: different cursors at {sorted(cursors) + sorted(headers)}; "
            "set pagination explicitly"
        )
    return None


#: No row fits: the start URL is a single page (checked for signs of more like any style).
_FALLBACK = Match(Shape(_SINGLE, {}, SinglePagePaginator), SinglePagePaginator(), None)


def detect_shape(page: Page, *, prefer_next_link: bool = defaults.AUTO_PREFER_NEXT_LINK) -> Match | Broken:
    """The row of :data:`._shapes.SHAPES` that fits a stream's first page and the paginator built for it
    (a single page when none fits), or :class:`Broken` when its signals conflict."""
    conflict = _conflict(page)
    if conflict is not None:
        return conflict
    linked = prefer_next_link and has_next_link(page)
    for shape in SHAPES:
        if linked and shape.fans_out:
            continue
        found = match(shape, page)
        if found is not None:
            return found
    return _FALLBACK


def detect(page: Page, *, prefer_next_link: bool = defaults.AUTO_PREFER_NEXT_LINK) -> Paginator | Broken:
    """The paginator ``auto`` picks for a stream whose first page is ``page`` (see :class:`AutoPaginator`)."""
    found = detect_shape(page, prefer_next_link=prefer_next_link)
    return found if isinstance(found, Broken) else found.paginator
