"""Paginators: small strategy objects that say which page of a list endpoint to fetch next.

The model is tenacity's: each paginator is a tiny immutable object with one job, usable from plain Python,
and a plain ``dict`` names the same thing (``{"type": "cursor", "cursor_path": "meta.next_cursor"}``) with
the vocabulary of dlt's REST client: ``json_link``, ``header_link``, ``cursor``, ``header_cursor``,
``offset``, ``page_number``, ``single_page`` and ``auto``. :func:`paginator_from` is the one parser (the
engine's ``UploadedData(paginator=...)`` and the operator's ``pagination=...`` both use it).

The engine turns each start URL into a *stream* of pages. After every page it calls
:meth:`Paginator.next_step` with a :class:`PageContext` and gets one of:

* :class:`NextPage` — one URL to fetch after this one (links, cursors, offset without a total);
* :class:`NextBody` — the same request again with a value at a path of its JSON body (a cursor in the
  body: GraphQL's ``variables.after``);
* :class:`FanOut` — every remaining page at once (offset/page number once the total is known): the engine
  fetches them in parallel, bounded by its rate limit and concurrency;
* :class:`Stop` — the stream is complete (no next link, empty page, short page, total reached);
* :class:`Broken` — the stream cannot go on (``auto`` saw conflicting signals): a reported failure.

The engine itself stops a stream at ``max_pages`` and detects loops (the same next URL twice).
"""

from __future__ import annotations

from ..urls import query_value, with_query
from ._auto import AutoPaginator, detect
from ._parse import PAGINATOR_PARAMETERS, PAGINATOR_TYPES, paginator_from
from ._steps import (
    Broken,
    FanOut,
    NextBody,
    NextPage,
    Page,
    PageContext,
    Step,
    Stop,
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
    "NextBody",
    "NextPage",
    "OffsetPaginator",
    "Page",
    "PageContext",
    "PageNumberPaginator",
    "Paginator",
    "SinglePagePaginator",
    "Step",
    "Stop",
    "detect",
    "link_header_next",
    "paginator_from",
    "query_value",
    "with_query",
]
