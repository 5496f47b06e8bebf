"""An outage switch for the demo API: drop every data request (``/items/{id}``, ``/records``,
``/pages/{style}``) after the first ``after`` (for ``count`` requests, or until switched off) — what a test
needs to make a task fail mid-way, deterministically. With ``retry_after`` it plays an exhausted quota
instead: 429 with ``Retry-After`` until ``retry_after`` seconds after the first refused request, then it
serves again.

Dropped requests are recorded like any other (status ``DROPPED``, 0): the server log shows what arrived.
Set it in-process (``api.cutoff.set(after=100, count=50)``) or over HTTP::

    POST /_cutoff?after=100[&count=50][&query=lane=b]   # arm: requests 101..150 (carrying ?lane=b) dropped
    POST /_cutoff?after=100&retry_after=600             # quota of 100, then 429s for 10 minutes
    POST /_cutoff                                        # disarm
"""

from __future__ import annotations

import json
import math
import time

from aiohttp import web

__all__ = ["Cutoff"]


class Cutoff:
    """Counts data requests (only those whose query has ``key=value`` when ``query`` is set) and drops the
    ones past ``after``: all of them, or the next ``count``."""

    def __init__(self) -> None:
        self.after: int | None = None
        self.count: int | None = None
        self.query: tuple[str, str] | None = None
        self.retry_after: float | None = None
        self.reset_at: float | None = None
        self.seen = 0
        self.dropped = 0

    def set(
        self,
        after: int | None,
        count: int | None = None,
        query: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Arm (``after`` >= 0) or disarm (``after=None``); counting restarts at 0. ``retry_after``
        (seconds): refuse with 429 instead of dropping, until that long after the first refusal."""
        if after is not None and after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        key, sep, value = (query or "").partition("=")
        self.after, self.count, self.retry_after = after, count, retry_after
        self.query = (key, value) if query and sep else None
        self.seen = self.dropped = 0
        self.reset_at = None

    def verdict(self, request: web.Request) -> web.Response | str | None:
        """``"drop"``, a 429 response, or ``None`` (serve) for a data request (call once per request)."""
        if self.after is None:
            return None
        if self.query is not None and request.query.get(self.query[0]) != self.query[1]:
            return None
        self.seen += 1
        if self.seen <= self.after or (self.count is not None and self.dropped >= self.count):
            return None
        if self.retry_after is not None:
            now = time.monotonic()
            if self.reset_at is None:
                self.reset_at = now + self.retry_after
            if now >= self.reset_at:  # the quota has reset
                self.after = None
                return None
            self.dropped += 1
            wait = max(1, math.ceil(self.reset_at - now))
            return web.Response(
                status=429,
                text=json.dumps({"error": "quota exhausted"}),
                content_type="application/json",
                headers={"Retry-After": str(wait)},
            )
        self.dropped += 1
        return "drop"

    async def handler(self, request: web.Request) -> web.Response:
        """``POST /_cutoff``: arm with ``after`` (and optional ``count``, ``query``), or disarm."""
        try:
            after = int(request.query["after"]) if "after" in request.query else None
            count = int(request.query["count"]) if "count" in request.query else None
            wait = float(request.query["retry_after"]) if "retry_after" in request.query else None
            self.set(after, count, request.query.get("query"), wait)
        except ValueError as exc:
            return web.Response(
                status=400, text=json.dumps({"error": str(exc)}), content_type="application/json"
            )
        body = {
            "after": self.after,
            "count": self.count,
            "query": "=".join(self.query) if self.query else None,
        }
        return web.Response(text=json.dumps(body), content_type="application/json")
