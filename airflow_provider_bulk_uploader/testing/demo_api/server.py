"""The demo API server (:class:`DemoAPI`): routes, auth, its own rate limit, seeded faults."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from aiohttp import web

from ._http import json_response
from .batch import DEFAULT_MAX_IDS, add_batch_routes
from .cutoff import Cutoff
from .pagination import add_pagination_routes
from .stats import RequestRecord, Stats, max_in_window

AuthMode = Literal["header", "query", "bearer", "basic", "none"]
AUTH_MODES: tuple[str, ...] = ("header", "query", "bearer", "basic", "none")
DEFAULT_AUTH_NAME = {"header": "X-API-Key", "query": "api_key"}
MAX_RECORDS = 10_000
MAX_SLOW_MS = 60_000
DROPPED = 0  # status recorded for /drop (no response was sent)
_DATA_ROUTES = frozenset(
    {"/items/{id}", "/records", "/pages/{style}", "/batch/items"}
)  # what /_cutoff counts
_REDIRECT_CODES = {
    301: web.HTTPMovedPermanently,
    302: web.HTTPFound,
    303: web.HTTPSeeOther,
    307: web.HTTPTemporaryRedirect,
    308: web.HTTPPermanentRedirect,
}


def _unit_hash(*parts: object) -> float:
    """Deterministic float in [0, 1) from the parts (stable across processes, unlike hash())."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _parse_instant(value: str) -> datetime:
    """ISO 8601 date or datetime -> aware UTC datetime (naive is UTC; a trailing Z is accepted)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the demo API binds to loopback only, not {host!r}")


class DemoAPI:
    """The demo server. ``async with DemoAPI(...) as api`` starts it on ``api.url``.

    Args:
        rate_limit: admitted requests per ``period`` (sliding window); ``None`` disables the limit.
        period: the rate-limit window in seconds.
        fault_rate: probability of an injected 503 on ``/items`` and ``/records``.
        fault_429_rate: probability of an injected 429 (with ``Retry-After: fault_retry_after``).
        fault_retry_after: seconds sent in ``Retry-After`` with injected 429s.
        token: the secret clients must present; ``None`` (or ``auth="none"``) disables auth.
        auth: ``header`` (``auth_name`` header), ``query`` (``auth_name`` parameter), ``bearer``
            (``Authorization: Bearer``), ``basic`` (``username`` + token as the password), ``none``.
        auth_name: header / query parameter name; defaults ``X-API-Key`` / ``api_key``.
        username: the user name for ``basic``.
        seed: seeds the fault decisions and record values.
        host, port: loopback address; port 0 picks a free port (see ``api.port``).
        record_requests: keep a ``RequestRecord`` per request in ``api.requests``.
        batch_max_ids: ids per request the batch endpoint accepts (``/batch/items``, see :mod:`.batch`).
    """

    def __init__(
        self,
        *,
        rate_limit: int | None = None,
        period: float = 1.0,
        fault_rate: float = 0.0,
        fault_429_rate: float = 0.0,
        fault_retry_after: int = 1,
        token: str | None = None,
        auth: AuthMode = "header",
        auth_name: str | None = None,
        username: str = "user",
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        record_requests: bool = True,
        allow_non_loopback: bool = False,
        batch_max_ids: int = DEFAULT_MAX_IDS,
    ) -> None:
        if rate_limit is not None and rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 (or None for no limit)")
        if period <= 0:
            raise ValueError("period must be > 0")
        if not (
            0.0 <= fault_rate <= 1.0 and 0.0 <= fault_429_rate <= 1.0 and fault_rate + fault_429_rate <= 1.0
        ):
            raise ValueError("fault rates must be in [0, 1] and sum to at most 1")
        if auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}, not {auth!r}")
        if not allow_non_loopback:
            _check_loopback(host)
        self.rate_limit = rate_limit
        self.period = float(period)
        self.fault_rate = fault_rate
        self.fault_429_rate = fault_429_rate
        self.fault_retry_after = fault_retry_after
        self.token = token
        self.auth: AuthMode = auth if token is not None else "none"
        self.auth_name = auth_name or DEFAULT_AUTH_NAME.get(auth, "")
        self.username = username
        self.seed = seed
        self.host = host
        self.port = port
        self.record_requests = record_requests
        self.batch_max_ids = batch_max_ids

        self.arrivals: list[float] = []
        self.requests: list[RequestRecord] = []
        self.stats = Stats()
        self._window: deque[float] = deque()
        self._seen: Counter[str] = Counter()
        #: the outage switch (see :mod:`.cutoff`): drop data requests after the first N
        self.cutoff = Cutoff()
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    def __repr__(self) -> str:  # never shows the token
        return f"DemoAPI(url={self.url!r}, auth={self.auth!r}, rate_limit={self.rate_limit}/{self.period}s)"

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/", self._index)
        r.add_get("/health", self._health)
        r.add_get("/items/{id}", self._item)
        r.add_get("/records", self._records)
        r.add_get("/redirect", self._redirect)
        r.add_post("/redirect", self._redirect)
        r.add_get("/status/{code}", self._status)
        r.add_get("/flaky/{key}", self._flaky)
        r.add_post("/flaky/{key}", self._flaky)
        r.add_get("/slow", self._slow)
        r.add_get("/invalid-json", self._invalid_json)
        r.add_get("/drop", self._drop)
        r.add_post("/drop", self._drop)  # reads the body first: the server did receive the POST
        add_pagination_routes(r, self)
        add_batch_routes(r, self)
        r.add_get("/_stats", self._stats_handler)
        r.add_post("/_reset", self._reset_handler)
        r.add_post("/_cutoff", self.cutoff.handler)
        return app

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock, backlog=1024).start()
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> DemoAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def reset(self) -> None:
        """Forget arrivals, records, counters, the rate-limit window and the per-URL fault counts."""
        self.arrivals.clear()
        self.requests.clear()
        in_flight = self.stats.in_flight
        self.stats = Stats(in_flight=in_flight, max_in_flight=in_flight)
        self._window.clear()
        self._seen.clear()

    def auth_headers(self) -> dict[str, str]:
        """Headers a well-behaved client sends (for tests that call the API directly)."""
        if self.token is None or self.auth in ("none", "query"):
            return {}
        if self.auth == "header":
            return {self.auth_name: self.token}
        if self.auth == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        raw = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def auth_params(self) -> dict[str, str]:
        """Query parameters a well-behaved client sends (non-empty only for ``auth="query"``)."""
        return {self.auth_name: self.token} if self.auth == "query" and self.token is not None else {}

    # ---- the request pipeline ----------------------------------------------------------------
    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_"):
            return await handler(request)
        now = time.monotonic()
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else None
        route = route or "<unmatched>"
        stats = self.stats
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        status = 500
        body: bytes | None = None
        try:
            if request.method not in ("GET", "HEAD") and request.body_exists:
                body = await request.read()  # cached: the handler reads it again for free
            response: web.StreamResponse | None = None
            if route in _DATA_ROUTES:
                cut = self.cutoff.verdict(request)
                if cut == "drop":
                    response = await self._drop(request)
                elif isinstance(cut, web.Response):
                    response = cut
            if response is None:
                response = self._gate(request, route, now)
            if response is None:
                response = await handler(request)
            status = DROPPED if isinstance(response, _DroppedResponse) else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            stats.in_flight -= 1
            stats.total += 1
            stats.by_path[route] += 1
            stats.by_status[status] += 1
            stats.by_path_status[route, status] += 1
            self.arrivals.append(now)
            if self.record_requests:
                self.requests.append(
                    RequestRecord(
                        now,
                        request.method,
                        request.path,
                        route,
                        dict(request.query),
                        dict(request.headers),
                        status,
                        body,
                    )
                )

    def _gate(self, request: web.Request, route: str, now: float) -> web.Response | None:
        """Auth, rate limit and faults; a response short-circuits the handler."""
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        if self.rate_limit is not None:
            window = self._window
            while window and window[0] <= now - self.period:
                window.popleft()
            if len(window) >= self.rate_limit:
                self.stats.rate_limited += 1
                wait = max(1, int(-(-(window[0] + self.period - now) // 1)))  # ceil, >= 1 s
                return json_response({"error": "rate limit exceeded"}, 429, {"Retry-After": str(wait)})
            window.append(now)
        if route in _DATA_ROUTES and (self.fault_rate or self.fault_429_rate):
            key = request.path_qs
            nth = self._seen[key]
            self._seen[key] = nth + 1
            u = _unit_hash(self.seed, key, nth)
            if u < self.fault_rate:
                self.stats.faults += 1
                return json_response({"error": "injected fault"}, 503)
            if u < self.fault_rate + self.fault_429_rate:
                self.stats.faults += 1
                return json_response(
                    {"error": "injected rate limit"}, 429, {"Retry-After": str(self.fault_retry_after)}
                )
        return None

    def _check_auth(self, request: web.Request) -> web.Response | None:
        token = self.token
        if self.auth == "none" or token is None:
            return None
        presented: str | None
        if self.auth == "header":
            presented = request.headers.get(self.auth_name)
        elif self.auth == "query":
            presented = request.query.get(self.auth_name)
        else:
            scheme = "Bearer" if self.auth == "bearer" else "Basic"
            value = request.headers.get("Authorization", "")
            presented = None
            if value[: len(scheme) + 1].lower() == scheme.lower() + " ":
                presented = value[len(scheme) + 1 :].strip()
                if self.auth == "basic":
                    try:
                        user, _, password = base64.b64decode(presented, validate=True).decode().partition(":")
                    except (ValueError, UnicodeDecodeError):
                        user, password = "", ""
                    presented = password if hmac.compare_digest(user, self.username) else ""
            if presented is None:
                return json_response(
                    {"error": "missing credentials"}, 401, {"WWW-Authenticate": f'{scheme} realm="demo-api"'}
                )
        if presented is None:
            return json_response({"error": "missing credentials"}, 401)
        if not hmac.compare_digest(presented.encode(), token.encode()):
            return json_response({"error": "invalid credentials"}, 403)
        return None

    # ---- handlers ----------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.Response:
        routes = sorted({r.resource.canonical for r in request.app.router.routes() if r.resource})
        return json_response({"service": "demo-api", "endpoints": routes})

    async def _health(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def _item(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        try:
            item_id = int(raw)
        except ValueError:
            return json_response({"error": f"no item {raw!r}"}, 404)
        return json_response({"id": item_id, "name": f"item-{item_id}", "value": self._value(item_id)})

    async def _records(self, request: web.Request) -> web.Response:
        try:
            start = _parse_instant(request.query["start"])
            end = _parse_instant(request.query["end"])
            step = int(request.query.get("step", "3600"))
        except KeyError as exc:
            return json_response({"error": f"missing query parameter {exc.args[0]!r}"}, 400)
        except ValueError as exc:
            return json_response({"error": f"bad query parameter: {exc}"}, 400)
        if step < 1:
            return json_response({"error": "step must be >= 1 second"}, 400)
        if end < start:
            return json_response({"error": "end is before start"}, 400)
        first = -(-int(start.timestamp()) // step) * step  # first aligned instant >= start
        stop = int(end.timestamp())
        if end.timestamp() > stop:  # fractional end: [start, end) still includes `stop`
            stop += 1
        stamps = range(first, stop, step)
        if len(stamps) > MAX_RECORDS:
            return json_response({"error": f"more than {MAX_RECORDS} records; ask for a shorter range"}, 400)
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        return json_response(
            [
                {"id": ts, "timestamp": (epoch + timedelta(seconds=ts)).isoformat(), "value": self._value(ts)}
                for ts in stamps
            ]
        )

    async def _redirect(self, request: web.Request) -> web.Response:
        target = request.query.get("to")
        if not target:
            return json_response({"error": "missing query parameter 'to'"}, 400)
        code = int(request.query.get("code", "302"))
        if code not in _REDIRECT_CODES:
            return json_response({"error": f"code must be one of {sorted(_REDIRECT_CODES)}"}, 400)
        raise _REDIRECT_CODES[code](location=target)

    async def _status(self, request: web.Request) -> web.Response:
        try:
            code = int(request.match_info["code"])
        except ValueError:
            return json_response({"error": "status must be an integer"}, 400)
        if not 200 <= code <= 599:
            return json_response({"error": "status must be in 200..599"}, 400)
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        if code in (204, 304):
            return web.Response(status=code, headers=headers)
        return json_response({"status": code}, code, headers)

    async def _flaky(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            fails = int(request.query.get("fails", "1"))
            code = int(request.query.get("status", "503"))
        except ValueError:
            return json_response({"error": "fails and status must be integers"}, 400)
        counter = "flaky:" + key
        nth = self._seen[counter]
        self._seen[counter] = nth + 1
        if nth < fails:
            headers = {}
            if "retry_after" in request.query:
                headers["Retry-After"] = request.query["retry_after"]
            if code == DROPPED:  # ?status=0: close without an answer, after reading the request
                return await self._drop(request)
            return json_response({"error": "flaky", "attempt": nth + 1}, code, headers)
        return json_response({"key": key, "attempt": nth + 1})

    async def _slow(self, request: web.Request) -> web.Response:
        try:
            ms = min(max(int(request.query.get("ms", "100")), 0), MAX_SLOW_MS)
        except ValueError:
            return json_response({"error": "ms must be an integer"}, 400)
        await asyncio.sleep(ms / 1000)
        return json_response({"slept_ms": ms})

    async def _invalid_json(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"truncated": ', content_type="application/json")

    async def _drop(self, request: web.Request) -> web.Response:
        if request.transport is not None:
            request.transport.abort()  # close with no bytes written
        return _DroppedResponse(status=599)  # aiohttp finds the transport gone and writes nothing

    async def _stats_handler(self, request: web.Request) -> web.Response:
        body = self.stats.to_dict()
        if request.query.get("arrivals") in ("1", "true"):
            body["arrivals"] = list(self.arrivals)
        if "window" in request.query:
            try:
                window = float(request.query["window"])
                if not window > 0:
                    raise ValueError
            except ValueError:
                return json_response({"error": "window must be a positive number of seconds"}, 400)
            body["max_in_window"] = {"window": window, "count": max_in_window(self.arrivals, window)}
        return json_response(body)

    async def _reset_handler(self, request: web.Request) -> web.Response:
        self.reset()
        return json_response({"reset": True})

    def _value(self, n: int) -> float:
        return round(_unit_hash(self.seed, "value", n) * 1000, 3)

    def value(self, n: int) -> float:
        """The deterministic ``value`` of record ``n`` (what ``/items/{n}`` and ``/batch/items`` answer)."""
        return self._value(n)


class _DroppedResponse(web.Response):
    """Returned by /drop after the transport was aborted; never reaches the client."""
