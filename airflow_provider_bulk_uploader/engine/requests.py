"""Requests with a method, a body and headers: what ``url_maker`` may yield besides URL strings.

A :class:`Request` is small and frozen: the method (``GET``, ``POST``, ``PUT``, ``PATCH``), the absolute URL,
an optional body (``json=`` or ``data=``), optional extra headers, and — like
:class:`~.interfaces.StartURL` — the unit of progress it stands for and the ids it carries (a batch lookup's
chunk: a failure lists them). The engine sends it through its built-in call on either backend (the aiohttp
fast path or httpx), under the same rate limit, retries, credential origin rule and redaction as a GET.

Plain URL strings keep their path: a run that yields only strings never builds a :class:`Request`.

Retries respect the method (urllib3's ``Retry(allowed_methods=...)`` is the model): a ``GET``/``PUT`` is
retried on every retryable error; a ``POST``/``PATCH`` only when the server cannot have processed it
(:func:`resend_safe`) unless the run says ``retry_non_idempotent=True`` (read-only POSTs: search, GraphQL
queries). Bodies never appear in a log line, an error message or a report (they may hold ids or filters).
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from .errors import FetchError, GraphQLError
from .redaction import redact, redact_url
from .validation import has_http_host, require_headers, require_http_url

__all__ = [
    "IDEMPOTENT_METHODS",
    "METHODS",
    "Request",
    "check_graphql",
    "encode_body",
    "resend_safe",
]

#: The methods a :class:`Request` may have.
METHODS: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH")
#: Methods whose repetition has the effect of one request (RFC 9110 §9.2.2; urllib3's default
#: ``allowed_methods`` less the ones not in :data:`METHODS`): retried on every retryable error.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a run.

    :param url: the absolute http(s) URL (checked here).
    :param method: ``"GET"`` (default), ``"POST"``, ``"PUT"`` or ``"PATCH"`` (any letter case).
    :param json: a JSON body (sent as ``application/json``); ``None`` (default): none.
    :param data: a form body (a mapping, sent ``application/x-www-form-urlencoded``) or raw ``str``/``bytes``;
        not together with ``json``.
    :param headers: extra headers for this request (names and values checked); they follow the same
        cross-origin rule as the run's headers (a credential-like one is never sent to another origin).
    :param unit: the unit of progress it stands for (what a :class:`~.interfaces.ResumableStore` records),
        like :attr:`~.interfaces.StartURL.unit`; ``None``: none.
    :param ids: the ids it carries (a batch lookup's chunk), listed with its failure; default none.
    :param resume_pages: with a paginator, the pages a partly stored stream continues with (as
        :attr:`~.interfaces.StartURL.resume_pages`).
    """

    url: str
    method: str = "GET"
    json: Any = None
    data: Mapping[str, Any] | str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _NO_HEADERS)
    unit: Any = None
    ids: tuple[Any, ...] = ()
    resume_pages: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        put = object.__setattr__
        if not has_http_host(self.url):
            require_http_url("Request url", self.url)
        method = self.method.upper() if isinstance(self.method, str) else self.method
        if method not in METHODS:
            raise ValueError(f"Request method must be one of {', '.join(METHODS)}, got {self.method!r}")
        put(self, "method", method)
        if self.json is not None and self.data is not None:
            raise ValueError("Request takes json= or data=, not both")
        if self.data is not None and not isinstance(self.data, (Mapping, str, bytes)):
            raise TypeError(f"Request data must be a mapping, str or bytes, got {type(self.data).__name__}")
        if self.headers is not _NO_HEADERS:
            put(self, "headers", MappingProxyType(require_headers("Request headers", self.headers)))
        if not isinstance(self.ids, tuple):
            put(self, "ids", tuple(self.ids))
        if not isinstance(self.resume_pages, tuple):
            put(self, "resume_pages", tuple(self.resume_pages))

    @property
    def idempotent(self) -> bool:
        """Whether sending it twice has the effect of sending it once (``GET``, ``PUT``)."""
        return self.method in IDEMPOTENT_METHODS

    @property
    def has_body(self) -> bool:
        return self.json is not None or self.data is not None

    @property
    def is_graphql(self) -> bool:
        """A GraphQL request: a JSON object body with a ``query`` string (its ``errors`` are failures)."""
        body = self.json
        return isinstance(body, Mapping) and isinstance(body.get("query"), str)

    def with_unit(self, unit: Any, resume_pages: Any = ()) -> Request:
        """A copy standing for ``unit`` (what a plan's remaining units are yielded as)."""
        return replace(self, unit=unit, resume_pages=tuple(resume_pages))

    def with_url(self, url: str) -> Request:
        """The same request at ``url`` (a next page of a paginated stream)."""
        return replace(self, url=url)

    def with_json(self, body: Any) -> Request:
        """The same request with JSON body ``body`` (a next page whose cursor is in the body)."""
        return replace(self, json=body, data=None)

    def __repr__(self) -> str:  # never the body: it may hold ids or filters
        body = " json=..." if self.json is not None else " data=..." if self.data is not None else ""
        ids = f" ids={len(self.ids)}" if self.ids else ""
        unit = f" unit={self.unit!r}" if self.unit is not None else ""
        return f"<Request {self.method} {redact_url(self.url)}{body}{ids}{unit}>"


def encode_body(request: Request) -> tuple[bytes | None, str | None]:
    """``(body bytes, Content-Type)`` of ``request`` (``(None, None)`` without a body)."""
    if request.json is not None:
        return _json.dumps(request.json, separators=(",", ":")).encode(), "application/json"
    data = request.data
    if data is None:
        return None, None
    if isinstance(data, Mapping):
        pairs = [
            (str(k), str(item))
            for k, v in data.items()
            for item in (v if isinstance(v, (list, tuple)) else [v])
            if item is not None
        ]
        return urlencode(pairs).encode(), "application/x-www-form-urlencoded"
    if isinstance(data, str):
        return data.encode(), None
    return bytes(data), None


def resend_safe(error: FetchError) -> bool:
    """Whether ``error`` says the server cannot have processed the request, so that a non-idempotent one
    may be sent again: the connection was refused or never made (nothing was sent), a 429 (refused by the
    quota), or a 503 with ``Retry-After`` (the server says it did not take it and when to come back)."""
    if getattr(error, "not_sent", False):
        return True
    status = error.status
    return status == 429 or (status == 503 and error.retry_after is not None)


def check_graphql(request: Request, body: Any) -> Any:
    """``body`` of a GraphQL ``request``, or :class:`~.errors.GraphQLError` when the server answered with
    an ``errors`` array and no data (a failed query, not a success with no records): the error names the
    first message (redacted)."""
    if not isinstance(body, dict):
        return body
    errors = body.get("errors")
    if not errors or body.get("data") is not None:
        return body
    first = errors[0] if isinstance(errors, list) else errors
    message = first.get("message") if isinstance(first, dict) else first
    shown = redact_url(request.url)
    text = redact(str(message))[:500]
    more = f" (and {len(errors) - 1} more)" if isinstance(errors, list) and len(errors) > 1 else ""
    raise GraphQLError(f"GraphQL error for {request.method} {shown}: {text}{more}", url=shown, status=200)
