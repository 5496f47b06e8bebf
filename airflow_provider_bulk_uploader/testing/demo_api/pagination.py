"""Paginated endpoints of the demo API, one per style, registered by :func:`add_pagination_routes`.

``/pages/{style}`` serves a deterministic data set page by page; ``style`` is one of :data:`STYLES`:

``json_link``      ``{"data": [...], "links": {"next": URL|null}}``, pages ``?page=1,2,...``
``header_link``    a JSON list, ``Link: <URL>; rel="next"`` (plus ``rel="first"``), pages ``?page=1,2,...``
``cursor``         ``{"data": [...], "meta": {"next_cursor": C|null}}``, cursor sent back as ``?cursor=C``
``header_cursor``  a JSON list, next cursor in header ``X-Next-Cursor``, sent back as ``?cursor=C``
``offset``         ``?offset=O&limit=L``: ``{"data": [...], "total": N}``
``page_number``    ``?page=P`` (from 1) ``&size=S``: ``{"data": [...], "meta": {"total_pages": T}}``

Query parameters (all optional, kept in every next link):

``n``            records in the data set (default 1000), ids ``0..n-1``; or ``start``/``end`` (ISO 8601) with
                 ``step`` seconds (default 60): one record per aligned instant in ``[start, end)``
``size``         records per page (default 100; ``limit`` for ``offset``)
``latency_ms``   sleep this long before answering (benchmarks)
``no_total``     ``1``: ``offset``/``page_number`` leave the total out (the client must stop on a short page)
``total``        where ``offset``/``page_number`` give it instead: ``header`` (the number of records in an
                 ``X-Total-Count`` header, as json-server does), ``records`` (``page_number``: the number of
                 records at ``meta.total`` instead of pages, as Django REST framework's ``count``)
``fail_page``    the page at this position (1-based) answers ``fail_status`` (default 500), every time
``loop_after``   link/cursor styles: the page at this position names *itself* as the next page (a loop)
``next_base``    ``scheme://host:port`` for the next links of ``json_link``/``header_link`` (another origin)

Two fixed-behaviour aliases: ``/pages/cursor-loop`` (``cursor`` with ``loop_after=3``) and
``/pages/failing`` (``json_link`` with ``fail_page=3``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from ._http import json_response

if TYPE_CHECKING:
    from .server import DemoAPI

__all__ = ["ALIASES", "STYLES", "add_pagination_routes"]

STYLES = ("json_link", "header_link", "cursor", "header_cursor", "offset", "page_number")
ALIASES: dict[str, tuple[str, dict[str, str]]] = {
    "cursor-loop": ("cursor", {"loop_after": "3"}),
    "failing": ("json_link", {"fail_page": "3"}),
}
DEFAULT_RECORDS = 1000
DEFAULT_PAGE_SIZE = 100
DEFAULT_STEP_SECONDS = 60
MAX_PAGE_SIZE = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def add_pagination_routes(router: web.UrlDispatcher, api: DemoAPI) -> None:
    """Register ``/pages/{style}`` (and the aliases) on ``router``; records' values come from ``api``."""
    router.add_get("/pages/{style}", _Handler(api).handle)


def _cursor(position: int) -> str:
    return f"c{position * 7919:x}"  # opaque to clients, decodable here


def _position_of_cursor(cursor: str) -> int | None:
    try:
        value = int(cursor[1:], 16)
    except ValueError:
        return None
    return value // 7919 if cursor.startswith("c") and value % 7919 == 0 else None


class _Handler:
    def __init__(self, api: DemoAPI) -> None:
        self.api = api

    async def handle(self, request: web.Request) -> web.Response:
        style = request.match_info["style"]
        query = dict(request.query)
        if style in ALIASES:
            style, fixed = ALIASES[style]
            query = {**fixed, **query}
        if style not in STYLES:
            return json_response({"error": f"unknown style {style!r}; one of {list(STYLES)}"}, 404)
        try:
            ids, make = self._dataset(query)
            size = int(query.get("limit" if style == "offset" else "size", DEFAULT_PAGE_SIZE))
            latency = int(query.get("latency_ms", "0"))
            fail_page = int(query.get("fail_page", "0"))
            fail_status = int(query.get("fail_status", "500"))
            loop_after = int(query.get("loop_after", "0"))
        except (ValueError, KeyError) as exc:
            return json_response({"error": f"bad query parameter: {exc}"}, 400)
        if not 1 <= size <= MAX_PAGE_SIZE:
            return json_response({"error": f"page size must be in 1..{MAX_PAGE_SIZE}"}, 400)
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        position = self._position(style, query, size)
        if position is None:
            return json_response({"error": "bad page, offset or cursor"}, 400)
        if position == fail_page:
            return json_response({"error": f"page {position} fails (fail_page)"}, fail_status)
        first = (position - 1) * size if style != "offset" else int(query.get("offset", "0"))
        records = [make(i) for i in ids[first : first + size]]
        pages = -(-len(ids) // size)
        has_next = first + size < len(ids)
        following = position if loop_after and position == loop_after else position + 1
        return self._respond(request, style, query, records, len(ids), pages, has_next, following)

    def _dataset(self, query: dict[str, str]) -> tuple[range, Callable[[int], dict[str, Any]]]:
        value = self.api._value
        if "start" in query and "end" in query:
            from .server import _parse_instant

            start, end = _parse_instant(query["start"]), _parse_instant(query["end"])
            step = int(query.get("step", DEFAULT_STEP_SECONDS))
            if step < 1:
                raise ValueError("step must be >= 1")
            first = -(-int(start.timestamp()) // step) * step
            stop = int(end.timestamp()) + (1 if end.timestamp() > int(end.timestamp()) else 0)

            def stamped(ts: int) -> dict[str, Any]:
                return {
                    "id": ts,
                    "timestamp": (_EPOCH + timedelta(seconds=ts)).isoformat(),
                    "value": value(ts),
                }

            return range(first, stop, step), stamped
        n = int(query.get("n", DEFAULT_RECORDS))
        if n < 0:
            raise ValueError("n must be >= 0")
        return range(n), lambda i: {"id": i, "value": value(i)}

    @staticmethod
    def _position(style: str, query: dict[str, str], size: int) -> int | None:
        try:
            if style in ("cursor", "header_cursor"):
                return _position_of_cursor(query["cursor"]) if "cursor" in query else 1
            if style == "offset":
                offset = int(query.get("offset", "0"))
                return offset // size + 1 if offset >= 0 else None
            page = int(query.get("page", "1"))
            return page if page >= 1 else None
        except ValueError:
            return None

    @staticmethod
    def _respond(
        request: web.Request,
        style: str,
        query: dict[str, str],
        records: list[dict[str, Any]],
        total: int,
        pages: int,
        has_next: bool,
        following: int,
    ) -> web.Response:
        def link(**params: Any) -> str:
            base = query.get("next_base") or f"{request.scheme}://{request.host}"
            parts = urlsplit(base)
            kept = {k: v for k, v in request.query.items() if k not in params}
            return f"{parts.scheme}://{parts.netloc}{request.path}?{urlencode({**kept, **params})}"

        if style == "json_link":
            return json_response(
                {"data": records, "links": {"next": link(page=following) if has_next else None}}
            )
        if style == "header_link":
            links = [f'<{link(page=1)}>; rel="first"']
            if has_next:
                links.append(f'<{link(page=following)}>; rel="next"')
            return json_response(records, headers={"Link": ", ".join(links)})
        if style == "cursor":
            return json_response(
                {"data": records, "meta": {"next_cursor": _cursor(following) if has_next else None}}
            )
        if style == "header_cursor":
            return json_response(records, headers={"X-Next-Cursor": _cursor(following)} if has_next else None)
        given = None if query.get("no_total") == "1" else query.get("total", "body")
        if given == "header":
            return json_response({"data": records}, headers={"X-Total-Count": str(total)})
        if style == "offset":
            return json_response({"data": records} if given is None else {"data": records, "total": total})
        body: dict[str, Any] = {"data": records}
        if given == "records":
            body["meta"] = {"total": total}
        elif given is not None:
            body["meta"] = {"total_pages": pages}
        return json_response(body)
