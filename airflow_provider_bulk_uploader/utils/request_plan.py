"""The operator's request template: ``method``, ``json``/``data`` bodies and ids batched per request, turned
into the engine's :class:`~airflow_provider_bulk_uploader.engine.requests.Request` objects, lazily.

A :class:`RequestPlan` is what the operator runs instead of a :class:`~.urls.UrlPlan` when a task has a
method other than ``GET``, a body, ``ids_per_request`` above 1 or an ``{ids}`` placeholder (a plain GET plan
keeps the URL-string path and its checkpoints). Its units are ``chunks x id chunks``: with
``ids_per_request=N`` the ids of each chunk are grouped N at a time and one group is one request, one unit
of progress (its ordinal in the plan) and one failure record (listing its ids) when it fails.

Placeholders: ``{start}``/``{end}`` (the chunk's bounds, ISO 8601; ``{start:%Y-%m-%d}`` works), ``{id}``
(one id; only with ``ids_per_request=1``) and ``{ids}`` (the request's ids):

* in ``endpoint`` and ``query_params`` ``{ids}`` is the ids joined by ``ids_separator`` (default ``","``);
  a query parameter whose value is exactly ``"{ids}"`` with ``ids_style="repeat"`` is repeated instead,
  one id each (``id=1&id=2``);
* anywhere in the ``json`` body a string value that is exactly ``"{ids}"`` becomes the JSON list of the ids
  (not a string), exactly ``"{id}"`` the id itself; inside a longer string a placeholder is replaced by its
  text. Only these four names are placeholders in a body, so GraphQL's own braces are left alone (write a
  selection as ``{ id }``, or pass values through ``variables``);
* in a ``data`` form body as in ``query_params``; in a ``data`` string as in a longer ``json`` string.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.requests import Request
from airflow_provider_bulk_uploader.engine.urls import append_query, join_url
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import Interval, IsoDatetime
from airflow_provider_bulk_uploader.utils.urls import placeholders_in, query_items, query_text

__all__ = ["RequestPlan", "body_placeholders", "check_request_args", "needs_request_plan"]


class _PathQuoting(string.Formatter):
    """Formats values, then percent-encodes them, keeping ``:`` (``+00:00``) and ``,`` (``{ids}`` joined)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        return quote(format(value, format_spec), safe=":,")


_QUOTING = _PathQuoting()

#: ``{id}``, ``{ids:...}`` …: the only placeholders a body knows (other braces are the body's own).
_PLACEHOLDER = re.compile(r"\{(id|ids|start|end)(?::([^{}]*))?\}")


def body_placeholders(value: Any) -> set[str]:
    """The placeholders used anywhere in a ``json``/``data`` body (strings inside dicts and lists)."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(m.group(1) for m in _PLACEHOLDER.finditer(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= body_placeholders(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            found |= body_placeholders(item)
    return found


def needs_request_plan(method: str, json_body: Any, data: Any, ids_per_request: int, used: set[str]) -> bool:
    """Whether a task needs :class:`RequestPlan` (else the URL-string plan, the engine's fastest path)."""
    return (
        method.upper() != "GET"
        or json_body is not None
        or data is not None
        or ids_per_request > 1
        or "ids" in used
    )


class RequestPlan:
    """Every request of one fetch: ``chunks x id chunks``, generated lazily; ``len()`` is the request count.

    :param base_url: the connection's base URL (used unless ``endpoint`` is absolute).
    :param endpoint: path or absolute URL with placeholders; with ``ids`` and no ``{id}``/``{ids}``
        anywhere, ``/{id}`` is appended to its path (``ids_per_request=1`` only).
    :param query_params: query parameters (string values may hold placeholders; lists repeat the key).
    :param chunks: interval chunks (``[None]`` without a date placeholder).
    :param ids: the ids, or ``None``.
    :param method: ``GET``, ``POST``, ``PUT`` or ``PATCH``.
    :param json: / :param data: the body template (see the module docstring), or ``None``.
    :param ids_per_request: ids per request (default 1).
    :param ids_separator: what joins ``{ids}`` in a string (default ``","``).
    :param ids_style: ``"join"`` (default) or ``"repeat"`` (a query parameter ``"{ids}"`` repeated per id).
    """

    def __init__(
        self,
        base_url: str,
        endpoint: str,
        query_params: Mapping[str, Any] | None,
        chunks: Sequence[Interval | None],
        ids: Sequence[Any] | None,
        *,
        method: str = defaults.HTTP_METHOD,
        json: Any = None,
        data: Any = None,
        ids_per_request: int = defaults.IDS_PER_REQUEST,
        ids_separator: str = defaults.IDS_SEPARATOR,
        ids_style: str = defaults.IDS_STYLE,
    ) -> None:
        used = placeholders_in(endpoint, query_params) | body_placeholders(json) | body_placeholders(data)
        if ids_per_request > 1 and "id" in used:
            raise BulkFetchConfigError(
                f"{{id}} names one id but ids_per_request is {ids_per_request}: use {{ids}} "
                "(the request's ids)"
            )
        if ids is not None and not used & {"id", "ids"}:
            if ids_per_request > 1:
                raise BulkFetchConfigError(
                    f"ids_per_request={ids_per_request} needs {{ids}} in endpoint, query_params, json or "
                    "data (where the API takes the ids)"
                )
            path, sep, query = endpoint.partition("?")
            endpoint = f"{path.rstrip('/')}/{{id}}{sep}{query}"
        if ids is None and used & {"id", "ids"}:
            raise BulkFetchConfigError(f"the request uses {sorted(used & {'id', 'ids'})} but ids is not set")
        self._template = join_url(base_url, endpoint)
        self.query_params = dict(query_params or {})
        self.chunks = list(chunks)
        self.ids = ids
        self.method = method.upper()
        self.json = json
        self.data = data
        self.ids_per_request = ids_per_request
        self.ids_separator = ids_separator
        self.ids_style = ids_style

    # -- size and identity ----------------------------------------------------------------------------

    @property
    def requests_per_chunk(self) -> int:
        return 1 if self.ids is None else math.ceil(len(self.ids) / self.ids_per_request)

    def __len__(self) -> int:
        return len(self.chunks) * self.requests_per_chunk

    @property
    def ids_total(self) -> int:
        """Ids over every chunk (0 without ids)."""
        return 0 if self.ids is None else len(self.chunks) * len(self.ids)

    def fingerprint(self) -> str:
        """A short stable hash of what decides the requests and their order — the URL template, query
        parameters, chunks, ids, method, body template and the batching (``ids_per_request``, separator,
        style): a checkpoint of another batching never skips the wrong requests."""
        ids = self.ids
        ids_key: Any = repr(ids) if isinstance(ids, range) else None if ids is None else [str(i) for i in ids]
        chunks = [None if c is None else [c.start.isoformat(), c.end.isoformat()] for c in self.chunks]
        payload = json.dumps(
            [
                "request-plan/1",
                self._template,
                sorted((str(k), repr(v)) for k, v in self.query_params.items()),
                chunks,
                ids_key,
                self.method,
                self.json,
                self.data,
                self.ids_per_request,
                self.ids_separator,
                self.ids_style,
            ],
            separators=(",", ":"),
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    # -- the requests ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Request]:
        n = self.ids_per_request
        for chunk in self.chunks:
            values: dict[str, Any] = {}
            if chunk is not None:
                values["start"] = IsoDatetime.of(chunk.start)
                values["end"] = IsoDatetime.of(chunk.end)
            if self.ids is None:
                yield self._request(values, ())
                continue
            ids = self.ids
            for first in range(0, len(ids), n):
                group = tuple(ids[first : first + n])
                if n == 1:
                    values["id"] = group[0]
                yield self._request(values, group)

    def _request(self, values: dict[str, Any], group: tuple[Any, ...]) -> Request:
        text = {**values, "ids": self.ids_separator.join(str(i) for i in group)} if group else values
        url = _QUOTING.vformat(self._template, (), text)
        if self.query_params:
            url = append_query(url, self._pairs(self.query_params, text, group))
        json_body = None if self.json is None else _render(self.json, values, group, self.ids_separator)
        data = self.data
        if isinstance(data, Mapping):
            data = self._pairs(data, text, group)
        elif isinstance(data, str):
            data = _render(data, values, group, self.ids_separator)
        return Request(url, self.method, json=json_body, data=data, ids=group)

    def _pairs(self, params: Mapping[str, Any], text: dict[str, Any], group: tuple[Any, ...]) -> Any:
        pairs: list[tuple[str, str]] = []
        for key, v in query_items(params):
            if v == "{ids}" and self.ids_style == "repeat":
                pairs.extend((key, str(i)) for i in group)
            else:
                pairs.append((key, query_text(v, text)))
        return pairs


def _render(value: Any, values: Mapping[str, Any], group: tuple[Any, ...], separator: str) -> Any:
    """``value`` (a body template) with the placeholders filled in (see the module docstring)."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole is not None and whole.group(2) is None:
            name = whole.group(1)
            if name == "ids":
                return list(group)
            if name == "id":
                return values["id"]
        return _PLACEHOLDER.sub(lambda m: _text(m, values, group, separator), value)
    if isinstance(value, Mapping):
        return {k: _render(v, values, group, separator) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(v, values, group, separator) for v in value]
    return value


def _text(match: re.Match[str], values: Mapping[str, Any], group: tuple[Any, ...], separator: str) -> str:
    name, spec = match.group(1), match.group(2) or ""
    if name == "ids":
        return separator.join(format(i, spec) for i in group)
    if name not in values:
        raise BulkFetchConfigError(
            f"the body uses {{{name}}} but the endpoint has no interval chunk for it"
            if name in ("start", "end")
            else f"the body uses {{{name}}} but ids is not set"
        )
    return format(values[name], spec)


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_request_args(
    *,
    endpoint: Any,
    method: Any,
    json_body: Any,
    data: Any,
    headers: Any,
    ids_per_request: Any,
    ids_separator: Any,
    ids_style: Any,
    retry_non_idempotent: Any,
) -> dict[str, Any]:
    """Check the operator's request arguments at construction (a Jinja template is checked once rendered);
    return them normalised (``method`` upper case, ``headers`` a dict).

    :raises BulkFetchConfigError: naming the argument and the value (a header's value is never shown).
    """
    from airflow_provider_bulk_uploader.engine.requests import METHODS
    from airflow_provider_bulk_uploader.engine.validation import require_bool, require_headers, require_int

    if not isinstance(method, str) or (not _templated(method) and method.upper() not in METHODS):
        raise BulkFetchConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if json_body is not None and data is not None:
        raise BulkFetchConfigError("give json= or data=, not both (json is sent as application/json)")
    if json_body is not None and not _templated(json_body):
        try:
            json.dumps(json_body)
        except (TypeError, ValueError) as exc:
            raise BulkFetchConfigError(f"json must be JSON-serialisable, got {json_body!r}: {exc}") from None
    if data is not None and not isinstance(data, (Mapping, str)):
        raise BulkFetchConfigError(
            f"data must be a dict of form fields or a string, got {type(data).__name__}"
        )
    try:
        require_int("ids_per_request", ids_per_request, 1, maximum=defaults.MAX_IDS_PER_REQUEST)
        require_bool("retry_non_idempotent", retry_non_idempotent)
        checked_headers = require_headers("headers", headers)
    except (TypeError, ValueError) as exc:
        raise BulkFetchConfigError(str(exc)) from None
    if not isinstance(ids_separator, str) or not ids_separator:
        raise BulkFetchConfigError(f"ids_separator must be a non-empty string, got {ids_separator!r}")
    if ids_style not in defaults.IDS_STYLES:
        raise BulkFetchConfigError(f"ids_style must be one of {list(defaults.IDS_STYLES)}, got {ids_style!r}")
    one_id = "id" in body_placeholders(json_body) | body_placeholders(data)
    if ids_per_request > 1 and isinstance(endpoint, str) and not _templated(endpoint):
        one_id = one_id or "{id}" in endpoint
    if ids_per_request > 1 and one_id:
        raise BulkFetchConfigError(
            f"{{id}} names one id but ids_per_request is {ids_per_request}: use {{ids}} "
            f"(endpoint {endpoint!r})"
        )
    return {
        "method": method if _templated(method) else method.upper(),
        "headers": checked_headers,
    }
