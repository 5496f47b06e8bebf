"""How a Redis server is named in messages: ``host:port/db`` or ``unix:/path`` — never a password."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["redis_address"]


def redis_address(target: Any) -> str:
    """``host:port/db`` (or ``unix:<path>``) of a ``redis.asyncio.Redis`` client, a ``redis://`` URL, or a
    mapping of connection keyword arguments (``host``, ``port``, ``db``, ``path``); never the password.

    The one place an address is formatted: the limiter's messages and the hook's use it alike.
    """
    if isinstance(target, str):
        from redis.asyncio.connection import parse_url

        kwargs: Mapping[str, Any] = parse_url(target)
    elif isinstance(target, Mapping):
        kwargs = target
    else:
        kwargs = target.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host') or 'localhost'}:{kwargs.get('port') or 6379}/{kwargs.get('db') or 0}"
