"""The demo API's batch lookup, in both forms, registered by :func:`add_batch_routes`:

``GET /batch/items?ids=1,2,3``  (or repeated: ``?ids=1&ids=2&ids=3``; ``id=`` works as well)
``POST /batch/items`` with a JSON body ``{"ids": [1, 2, 3]}`` (or ids in the query, as for GET)

Both answer ``{"data": [{"id": 1, "name": "item-1", "value": ...}, ...]}`` in the order asked, at most
``DemoAPI(batch_max_ids=...)`` ids per request (default :data:`DEFAULT_MAX_IDS`): more is a 400 naming the
limit, like a real batch endpoint. Query parameters (both forms):

``latency_ms``  sleep this long before answering (benchmarks)
``fail_id``     a request that carries this id answers ``fail_status`` (default 500), every time

Auth, the server's rate limit, the cut-off switch and the request log apply as to every data route; a POST's
JSON body is kept in the request log (:attr:`RequestRecord.body`) so a test can check what was sent.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ._http import json_response

if TYPE_CHECKING:
    from .server import DemoAPI

__all__ = ["DEFAULT_MAX_IDS", "add_batch_routes"]

DEFAULT_MAX_IDS = 100
MAX_LATENCY_MS = 10_000


def add_batch_routes(router: web.UrlDispatcher, api: DemoAPI) -> None:
    """Register ``GET`` and ``POST /batch/items`` on ``router``; records' values come from ``api``."""
    handler = _Batch(api)
    router.add_get("/batch/items", handler.handle)
    router.add_post("/batch/items", handler.handle)


def _query_ids(request: web.Request) -> list[str]:
    values = request.query.getall("ids", []) + request.query.getall("id", [])
    return [part for value in values for part in value.split(",") if part != ""]


class _Batch:
    def __init__(self, api: DemoAPI) -> None:
        self.api = api

    async def handle(self, request: web.Request) -> web.Response:
        raw: list[Any] = _query_ids(request)
        if request.method == "POST" and request.body_exists:
            try:
                body = json.loads(await request.read() or b"null")
            except ValueError:
                return json_response({"error": "the body is not JSON"}, 400)
            if body is not None:
                if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
                    return json_response({"error": 'the body must be {"ids": [...]}'}, 400)
                raw = body["ids"]
        try:
            ids = [int(i) for i in raw]
        except (TypeError, ValueError):
            return json_response({"error": "ids must be integers"}, 400)
        if not ids:
            return json_response({"error": "no ids"}, 400)
        limit = self.api.batch_max_ids
        if len(ids) > limit:
            return json_response({"error": f"at most {limit} ids per request, got {len(ids)}"}, 400)
        try:
            latency = min(max(int(request.query.get("latency_ms", "0")), 0), MAX_LATENCY_MS)
            fail_id = int(request.query["fail_id"]) if "fail_id" in request.query else None
            fail_status = int(request.query.get("fail_status", "500"))
        except ValueError:
            return json_response({"error": "latency_ms, fail_id and fail_status must be integers"}, 400)
        if latency:
            await asyncio.sleep(latency / 1000)
        if fail_id is not None and fail_id in ids:
            return json_response({"error": f"id {fail_id} makes this batch fail"}, fail_status)
        value = self.api.value
        return json_response({"data": [{"id": i, "name": f"item-{i}", "value": value(i)} for i in ids]})
