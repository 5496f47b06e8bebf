"""What a paginator sees (:class:`Page`, :class:`PageContext`) and says (:class:`NextPage`, :class:`FanOut`,
:class:`Stop`, :class:`Broken`), and the URL, header and argument helpers the strategies share."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import defaults
from ..paths import MISSING, lookup


@dataclass(frozen=True)
class Page:
    """One fetched page: the URL it was requested at, its parsed JSON body and its response headers
    (a case-insensitive mapping; empty for custom ``api_call_factory`` calls, which return bodies only)."""

    url: str
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PageContext:
    """What :meth:`Paginator.next_step` gets after each page of a stream.

    :param start_url: the stream's first URL (as given, before the paginator's first-page parameters).
    :param page: the page just fetched.
    :param number: its position in the stream, 1 for the first page.
    :param records: records on the page (at the run's ``record_path``; 1 per page without one).
    :param memo: per-stream scratch space for a paginator (``auto`` keeps its choice there).
    :param counted: whether ``records`` was counted at a ``record_path`` (``False``: the run has none and
        every page counts as one; ``auto`` then finds the records' list itself).
    :param run: scratch space shared by every stream of one run (``auto`` logs each choice once per run).
    """

    start_url: str
    page: Page
    number: int
    records: int
    memo: dict[str, Any] = field(default_factory=dict)
    counted: bool = True
    run: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NextPage:
    """Fetch ``url`` next (sequentially: its response decides what comes after it)."""

    url: str


@dataclass(frozen=True)
class FanOut:
    """Every remaining page of the stream: ``count`` URLs from ``urls``, fetched in parallel.

    :param pattern: optional compact form of the same URLs, ``(base, param, values)``: URL *i* is ``base``
        with query parameter ``param`` set to ``values[i]`` (what a resumable store records instead of the
        URLs; offset and page number set it).
    """

    urls: Iterator[str]
    count: int
    reason: str = "total reached"
    pattern: tuple[str, str, range] | None = None


@dataclass(frozen=True)
class NextBody:
    """Send the page's request again — same URL, same method — with ``value`` at dotted ``path`` of its JSON
    body (a cursor or an offset that goes back in the body, e.g. GraphQL's ``variables.after``: dlt's
    ``cursor_body_path``). Sequential, like :class:`NextPage`."""

    path: str
    value: Any


@dataclass(frozen=True)
class Stop:
    """The stream is complete; ``reason`` says why (``"no next link"``, ``"empty page"`` …)."""

    reason: str


@dataclass(frozen=True)
class Broken:
    """The stream cannot continue; ``error`` is reported as a failure (counted in ``failed``, so against an
    operator's ``max_failures``) and the stream marked incomplete with stop reason ``stop``."""

    error: str
    stop: str = "broken"


Step = NextPage | FanOut | Stop | Broken | NextBody


# -- helpers ------------------------------------------------------------------------------------------------


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r""";\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))""", re.I)


def link_header_next(value: str | None, rel: str = defaults.LINKS_NEXT_KEY) -> str | None:
    """The target of the ``rel`` entry (default ``next``) of an RFC 8288 ``Link`` header, or ``None``."""
    if not value:
        return None
    for match in _LINK.finditer(value):
        target, params = match.group(1), match.group(2)
        for rel_match in _REL.finditer(params):
            rels = (rel_match.group(1) or rel_match.group(2) or "").lower().split()
            if rel.lower() in rels:
                return target.strip()
    return None


def link_header_entries(value: str | None) -> dict[str, str]:
    """Every ``rel`` of an RFC 8288 ``Link`` header and its target (the first target of a repeated rel)."""
    out: dict[str, str] = {}
    for match in _LINK.finditer(value or ""):
        target, params = match.group(1).strip(), match.group(2)
        for rel_match in _REL.finditer(params):
            for rel in (rel_match.group(1) or rel_match.group(2) or "").lower().split():
                out.setdefault(rel, target)
    return out


def _header(page: Page, name: str) -> str | None:
    getter = getattr(page.headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None and isinstance(page.headers, dict):  # a plain dict built by hand: match any case
        lowered = name.lower()
        value = next((v for k, v in page.headers.items() if k.lower() == lowered), None)
    return value


def _present(value: Any) -> bool:
    return value is not MISSING and value is not None and value != ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


# -- argument checks ---------------------------------------------------------------------------------------


def _require_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _require_path(name: str, value: Any) -> str:
    text = _require_text(name, value)
    if any(not part for part in text.split(".")) and text != ".":
        raise ValueError(f"{name} must be a dotted key path like 'meta.next_cursor', got {value!r}")
    return text


#: A total read from a response header instead of the body: ``"header:X-Total-Count"``.
HEADER_PREFIX = "header:"


def _require_source(name: str, value: Any) -> str | None:
    """A total's source: ``None``, a dotted body path, or ``"header:<name>"``."""
    if value is None:
        return None
    text = _require_text(name, value)
    if text.lower().startswith(HEADER_PREFIX):
        if not text[len(HEADER_PREFIX) :].strip():
            raise ValueError(f"{name} must name a header after 'header:', got {value!r}")
        return text
    return _require_path(name, text)


def read_count(page: Page, source: str | None) -> int | None:
    """The whole number at ``source`` (a body path or ``"header:<name>"``) of ``page``, or ``None``."""
    if not source:
        return None
    if source.lower().startswith(HEADER_PREFIX):
        return _as_int(_header(page, source[len(HEADER_PREFIX) :].strip()))
    return _as_int(lookup(page.body, source))


def _require_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _require_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value
