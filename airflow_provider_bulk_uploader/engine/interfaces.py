"""The protocols the engine is built on: where results go, how one URL is fetched, how requests are
authenticated — and the resume contract between the engine and a store that records its progress
(:class:`StartURL`, :class:`PageSource`, :class:`ResumableStore`). Implement them to plug in your own
storage, HTTP method or credential scheme."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import httpx

__all__ = ["APICall", "Auth", "PageSource", "ResumableStore", "ResumePage", "StartURL", "Store"]


@runtime_checkable
class Store(Protocol):
    """Where fetched records land.

    Required: ``add(item)`` and ``saved_data()``. Optional, used when present: ``add_batch(items)``
    (one call per batch instead of one ``add`` per item) and ``flush()`` (called once at the end of a run,
    also after a cancel). ``add_batch`` and ``flush`` may be ``async def``; the engine awaits them. An
    exception from the store aborts the run.
    """

    def add(self, data: Any) -> Any: ...

    def saved_data(self) -> Any: ...


@runtime_checkable
class APICall(Protocol):
    """One request for one URL. The engine builds it as ``factory(client=..., url=..., retry_policy=...)``
    where ``client`` is an :class:`httpx.AsyncClient`, and awaits :meth:`content` once per attempt.

    The engine applies ``retry_policy`` and the rate limit around each ``content()`` call, so an
    implementation should make exactly one request and raise (e.g. ``response.raise_for_status()``) on
    failure; the policy is passed for inspection only.
    """

    async def content(self) -> Any: ...


@runtime_checkable
class Auth(Protocol):
    """Request authentication in httpx's form (any :class:`httpx.Auth` fits).

    The built-in classes also expose static ``credential_headers`` / ``credential_params`` mappings,
    which the fast transport applies without building an ``httpx.Request``.
    """

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]: ...


# -- the resume contract -----------------------------------------------------------------------------------


class ResumePage(NamedTuple):
    """A page a partly stored stream continues with: its URL, its position in the stream (1 = first page),
    whether its response decides what follows it (``False`` for a page of a fan-out), and — for a stream of
    requests whose cursor goes back in the JSON body — the values to set in the start request's body
    (``{dotted path: value}``; ``None``: the start body)."""

    url: str
    number: int
    decides: bool
    body: Any = None


class StartURL(str):
    """A URL (it *is* the ``str``) that carries the unit of progress it stands for.

    ``url_maker`` may yield these instead of plain strings; a :class:`ResumableStore` then learns, with every
    body, which unit it came from. With a paginator, ``resume_pages`` lists the pages a partly stored stream
    continues with (empty: the stream starts at its first page).

    :param url: the absolute http(s) URL.
    :param unit: the unit key (any JSON-ready value; the Airflow layer uses the URL's ordinal in its plan).
    :param resume_pages: ``(url, number, decides)`` triples (:class:`ResumePage`), default none.
    """

    unit: Any
    resume_pages: tuple[ResumePage, ...]

    def __new__(cls, url: str, unit: Any, resume_pages: Iterable[Iterable[Any]] = ()) -> StartURL:
        self = super().__new__(cls, url)
        self.unit = unit
        self.resume_pages = tuple(
            ResumePage(str(u), int(n), bool(d), *rest) for u, n, d, *rest in resume_pages
        )
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:
        return (str(self), self.unit, self.resume_pages)

    def __repr__(self) -> str:
        return f"StartURL({str.__repr__(self)}, unit={self.unit!r})"


@dataclass(frozen=True, slots=True)
class PageSource:
    """What a :class:`ResumableStore` learns with one page body of a paginated stream.

    :param stream_unit: the ``unit`` of the stream's :class:`StartURL`.
    :param number: the page's position in the stream (1 = first page).
    :param after: what follows the page, JSON-ready: ``"end"`` (the stream is complete after it),
        ``{"next": url}`` (sequential styles), ``{"fanout": {...}, "first": n, "count": c}`` (every other page
        at once: ``fanout`` is ``{"base", "param", "values": [start, stop, step]}`` or a list of URLs), or
        ``None`` (the page decides nothing: a fanned-out page, or a stream that broke after it).
    """

    stream_unit: Any
    number: int
    after: Any


@runtime_checkable
class ResumableStore(Protocol):
    """A :class:`Store` that records which unit each body came from: the engine calls
    ``add_batch_from(sources, items)`` instead of ``add_batch(items)``, with, for each body, the object
    ``url_maker`` yielded (a :class:`StartURL` when it carries a unit) — or, for a page of a paginated stream
    whose start is a :class:`StartURL`, a :class:`PageSource`. May be ``async def``. Bodies of one stream
    arrive in stream order."""

    def add_batch_from(self, sources: list[Any], items: list[Any]) -> Any: ...
