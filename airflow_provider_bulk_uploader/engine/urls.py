"""URL helpers used by the engine and the Airflow layer: one definition of an origin, one way to join a
path to a base URL, one way to append query parameters.

An *origin* is ``(scheme, host, port)`` with the scheme and host lower-cased and the default port filled
in (80 for http, 443 for https), as browsers define it: credentials are only ever sent to the origin they
were issued for (see :mod:`.auth` and :mod:`.transport`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

__all__ = ["Origin", "append_query", "join_url", "origin_of", "same_origin"]

Origin = tuple[str, str, "int | None"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: object) -> Origin:
    """``(scheme, host, port)`` of ``url`` (a ``str`` or anything whose ``str()`` is a URL, e.g.
    ``httpx.URL``), lower-cased, default port filled in. A URL without a valid port gives port ``None``."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return (scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme))


def same_origin(a: object, b: object) -> bool:
    """Whether URLs ``a`` and ``b`` have the same origin (scheme, host and port)."""
    return origin_of(a) == origin_of(b)


def join_url(base_url: str, endpoint: str) -> str:
    """``endpoint`` appended to ``base_url`` with exactly one ``/`` between them; ``endpoint`` itself when it
    is an absolute URL (has ``://``); ``base_url`` when ``endpoint`` is empty."""
    if "://" in endpoint:
        return endpoint
    if not endpoint:
        return base_url
    return f"{base_url.rstrip('/')}/{endpoint.lstrip('/')}"


def append_query(url: str, params: Mapping[str, Any] | Iterable[tuple[str, Any]] | str) -> str:
    """``url`` with ``params`` (a mapping, ``(name, value)`` pairs, or an already encoded query string)
    appended after ``?`` or ``&``; ``url`` unchanged when there is nothing to add."""
    query = params if isinstance(params, str) else urlencode(params)  # type: ignore[arg-type]
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"
