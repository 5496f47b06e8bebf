"""Types the steps of a run share (:mod:`._transports`, :mod:`._attempts`, :mod:`._paging`): what a fetcher
is, and the sentinel for a URL that failed for good. A module of its own so that no step imports another
step (or the run) for a type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["FAILED", "Fetch", "PageFetch", "SendFetch"]

#: ``fetch(url) -> parsed JSON body``: one attempt at one URL.
Fetch = Callable[[str], Awaitable[Any]]
#: ``fetch(page_url, stream_start_url) -> (parsed body, response headers)``: credentials only to the origin
#: of the stream's start URL.
PageFetch = Callable[[str, str], Awaitable[tuple[Any, Mapping[str, str]]]]

#: ``send(request, trusted_url=None) -> (parsed body, response headers)``: one attempt at one
#: :class:`~.requests.Request`; credentials only to the origin of ``trusted_url`` (default: the request's).
SendFetch = Callable[..., Awaitable[tuple[Any, Mapping[str, str]]]]

#: What :meth:`~._attempts.Attempts.fetch` returns for a URL that failed for good (already in the report).
FAILED: Any = object()
