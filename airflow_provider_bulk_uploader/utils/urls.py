"""Turn the operator's ``endpoint``/``query_params``/``ids`` and interval chunks into request URLs, lazily.

Placeholders (Python ``str.format`` syntax, single braces, left alone by Jinja):
``{start}``/``{end}`` — the chunk's bounds, ISO 8601 (a format spec works: ``{start:%Y-%m-%d}``);
``{id}`` — one id from ``ids``. With ``ids`` and no ``{id}`` anywhere, ``/{id}`` is appended to the path
(like the engine's ``loading_urls``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from airflow_provider_bulk_uploader import id_iterator
from airflow_provider_bulk_uploader.engine.urls import append_query, join_url
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import Interval, IsoDatetime

__all__ = ["PLACEHOLDERS", "UrlPlan", "coerce_ids", "placeholders_in", "query_items", "query_text"]

#: ``{ids}`` (a request's ids, batched) is filled in by :class:`~.request_plan.RequestPlan`.
PLACEHOLDERS = frozenset({"start", "end", "id", "ids"})
_PARSER = string.Formatter()


class _QuotingFormatter(string.Formatter):
    """Formats values, then percent-encodes them (``+`` in ``+00:00`` must not become a space)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        return quote(format(value, format_spec), safe=":")


_QUOTING = _QuotingFormatter()


def _fields(argument: str, text: str) -> set[str]:
    try:
        names = {name for _, name, _, _ in _PARSER.parse(text) if name is not None}
    except ValueError as exc:
        raise BulkFetchConfigError(f"{argument} {text!r} is not a valid template: {exc}") from None
    unknown = {n for n in names if n not in PLACEHOLDERS}
    if "" in unknown or unknown:
        raise BulkFetchConfigError(
            f"{argument} {text!r} uses unknown placeholder(s) {sorted(unknown)}; "
            f"only {{start}}, {{end}}, {{id}} and {{ids}} are filled in"
        )
    return names


def placeholders_in(endpoint: str, query_params: Mapping[str, Any] | None) -> set[str]:
    """The placeholders used by ``endpoint`` and the string values of ``query_params``."""
    found = _fields("endpoint", endpoint)
    for key, value in (query_params or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, str):
                found |= _fields(f"query_params[{key!r}]", v)
    return found


def query_items(params: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(name, value)`` for each value of ``query_params`` as sent: a list or tuple gives the name once per
    item, ``None`` leaves it out."""
    for key, value in params.items():
        for v in value if isinstance(value, (list, tuple)) else (value,):
            if v is not None:
                yield str(key), v


def query_text(value: Any, values: Mapping[str, Any]) -> str:
    """One query value as text: a string with its placeholders filled from ``values``, a bool as JSON
    (``true``/``false``, not Python's ``True``), anything else ``str()``."""
    if isinstance(value, str):
        return value.format(**values)
    return json.dumps(value) if isinstance(value, bool) else str(value)


def coerce_ids(ids: Any) -> Sequence[Any] | None:
    """The operator's ``ids`` argument as a sized sequence (or ``None``).

    Accepts a list/tuple/range, a ``{"start": a, "end": b, "step": 1}`` id range (end exclusive, as
    produced by :func:`~airflow_provider_bulk_uploader.utils.mapping.id_range_kwargs`), or a string holding
    a JSON/Python list (what a non-native Jinja template renders).
    """
    if ids is None:
        return None
    if isinstance(ids, str):
        text = ids.strip()
        try:
            ids = json.loads(text)
        except json.JSONDecodeError:
            try:
                ids = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise BulkFetchConfigError(
                    f"ids must be a list, a range or {{'start': a, 'end': b}}; got the string {ids!r}"
                ) from None
    if isinstance(ids, Mapping):
        unknown = set(ids) - {"start", "end", "step"}
        if unknown or "start" not in ids or "end" not in ids:
            raise BulkFetchConfigError(
                "ids as a range must be {'start': int, 'end': int[, 'step': int]} (end exclusive), "
                f"got {dict(ids)!r}"
            )
        try:
            return id_iterator(ids["start"], ids["end"], ids.get("step", 1))
        except (TypeError, ValueError) as exc:
            raise BulkFetchConfigError(f"ids range {dict(ids)!r} is invalid: {exc}") from None
    if isinstance(ids, (list, tuple, range)):
        return ids
    raise BulkFetchConfigError(
        f"ids must be a list, a range or {{'start': a, 'end': b}}; got {type(ids).__name__}"
    )


class UrlPlan:
    """Every URL of one fetch: ``chunks x ids``, generated lazily; ``len()`` is the request count.

    :param base_url: the connection's base URL (used unless ``endpoint`` is absolute).
    :param endpoint: path relative to ``base_url`` or an absolute URL, with placeholders.
    :param query_params: extra query parameters; string values may hold placeholders; lists repeat the key.
    :param chunks: interval chunks (``[None]`` when the endpoint uses no date placeholder).
    :param ids: ids for ``{id}`` or ``None``.
    """

    def __init__(
        self,
        base_url: str,
        endpoint: str,
        query_params: Mapping[str, Any] | None,
        chunks: Sequence[Interval | None],
        ids: Sequence[Any] | None,
    ) -> None:
        if ids is not None and "id" not in placeholders_in(endpoint, query_params):
            path, sep, query = endpoint.partition("?")
            endpoint = f"{path.rstrip('/')}/{{id}}{sep}{query}"
        self._template = join_url(base_url, endpoint)
        self.query_params = dict(query_params or {})
        self.chunks = list(chunks)
        self.ids = ids

    def __len__(self) -> int:
        return len(self.chunks) * (len(self.ids) if self.ids is not None else 1)

    def fingerprint(self) -> str:
        """A short stable hash of what decides the plan's URLs and their order (template, query parameters,
        chunks, ids): two tries of the same task instance agree on it unless the plan changed (what a
        progress checkpoint is keyed by)."""
        ids = self.ids
        ids_key: Any = repr(ids) if isinstance(ids, range) else None if ids is None else [str(i) for i in ids]
        chunks = [None if c is None else [c.start.isoformat(), c.end.isoformat()] for c in self.chunks]
        payload = json.dumps(
            [
                self._template,
                sorted((str(k), repr(v)) for k, v in self.query_params.items()),
                chunks,
                ids_key,
            ],
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def __iter__(self) -> Iterator[str]:
        for chunk in self.chunks:
            values: dict[str, Any] = {}
            if chunk is not None:
                values["start"] = IsoDatetime.of(chunk.start)
                values["end"] = IsoDatetime.of(chunk.end)
            for ident in self.ids if self.ids is not None else (None,):
                if ident is not None:
                    values["id"] = ident
                yield self._url(values)

    def _url(self, values: dict[str, Any]) -> str:
        url = _QUOTING.vformat(self._template, (), values)
        if not self.query_params:
            return url
        pairs = [(key, query_text(v, values)) for key, v in query_items(self.query_params)]
        return append_query(url, pairs)
