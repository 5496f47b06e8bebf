"""The three protocols the engine is built on: where results go, how one URL is fetched, how requests
are authenticated. Implement them to plug in your own storage, HTTP method or credential scheme."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol, runtime_checkable

import httpx

__all__ = ["APICall", "Auth", "Store"]


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
