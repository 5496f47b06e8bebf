"""One rate budget shared by every process that uses the same key: :class:`RedisLimiter`.

The public path of the shared limiter (also exported by :mod:`airflow_provider_bulk_uploader.engine` and
the package root). It lives in :mod:`.shared`: :mod:`.shared.limiter` (the client side, and what it
guarantees), :mod:`.shared.strategies` (``strict`` slots, ``bucket``), :mod:`.shared.scripts` (the Lua
scripts), :mod:`.shared.address` (naming the server, never its password).
"""

from __future__ import annotations

from .shared.address import redis_address
from .shared.limiter import RedisLimiter

__all__ = ["RedisLimiter", "redis_address"]
