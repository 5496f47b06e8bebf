"""Where the shared budgets live: the ``redis`` connections that ``bulk_fetch`` connections name.

Read in the API server: every ``bulk_fetch`` connection of the metadata database and of the environment
(``AIRFLOW_CONN_*``; a secrets backend cannot be listed, so its connections are not found — their Redis is
still read when it is ``redis_default``), and, for each Redis connection named (``redis_conn_id``, default
``redis_default``) or ``redis_default`` itself, a synchronous client with short timeouts. Passwords are
masked and registered with the engine's redaction by :func:`~..hooks._shared_limit.read_redis_connection`;
nothing here returns one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.redaction import redact
from airflow_provider_bulk_uploader.hooks._shared_limit import RedisParams, read_redis_connection
from airflow_provider_bulk_uploader.utils.extras import CONN_TYPE

__all__ = ["BulkFetchConnection", "RedisSource", "bulk_fetch_connections", "redis_sources"]


@dataclass(frozen=True)
class BulkFetchConnection:
    """What the page shows of a ``bulk_fetch`` connection: its id and its rate budget (no host, no secret)."""

    conn_id: str
    shared: bool
    rate_limit_key: str
    redis_conn_id: str | None
    num_requests: int | None
    period_seconds: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "rate_limit_scope": "shared" if self.shared else "task",
            "rate_limit_key": self.rate_limit_key if self.shared else None,
            "redis_conn_id": self.redis_conn_id,
            "num_requests": self.num_requests,
            "period_seconds": self.period_seconds,
        }


@dataclass
class RedisSource:
    """One Redis connection to read budgets from, and the bulk_fetch connections that use it."""

    redis_conn_id: str
    address: str | None = None
    params: RedisParams | None = None
    error: str | None = None
    used_by: list[str] = field(default_factory=list)

    def client(self) -> Any:
        """A synchronous ``redis.Redis`` (short timeouts: the page must answer even when Redis does not)."""
        import redis

        assert self.params is not None
        timeout = defaults.BUDGETS_REDIS_TIMEOUT_SECONDS
        return redis.Redis(
            **self.params.client_kwargs(), socket_timeout=timeout, socket_connect_timeout=timeout
        )


def bulk_fetch_connections() -> list[BulkFetchConnection]:
    """Every ``bulk_fetch`` connection of the metadata database and of ``AIRFLOW_CONN_*``, by id."""
    found: dict[str, Any] = {}
    try:
        from airflow.models.connection import Connection
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            for conn in session.scalars(select(Connection).where(Connection.conn_type == CONN_TYPE)):
                found[conn.conn_id] = conn.extra_dejson
    except Exception:  # no database here (a DB-less deployment): the environment's connections only
        pass
    for name, value in os.environ.items():
        if not name.startswith("AIRFLOW_CONN_"):
            continue
        extras = _env_extras(value)
        if extras is not None:
            found[name[len("AIRFLOW_CONN_") :].lower()] = extras
    return [_described(conn_id, extras) for conn_id, extras in sorted(found.items())]


def redis_sources(connections: list[BulkFetchConnection]) -> list[RedisSource]:
    """The Redis connections to read, each with the bulk_fetch connections that name it; ``redis_default``
    is read too when it exists (the default of ``redis_conn_id``)."""
    from airflow.models.connection import Connection

    wanted: dict[str, RedisSource] = {}
    for conn in connections:
        if conn.shared and conn.redis_conn_id:
            wanted.setdefault(conn.redis_conn_id, RedisSource(conn.redis_conn_id)).used_by.append(
                conn.conn_id
            )
    wanted.setdefault(defaults.REDIS_CONN_ID, RedisSource(defaults.REDIS_CONN_ID))
    sources = []
    for source in wanted.values():
        try:
            source.params = read_redis_connection(
                Connection.get_connection_from_secrets,
                source.redis_conn_id,
                source.used_by[0] if source.used_by else "(none)",
            )
            source.address = source.params.address
        except Exception as exc:
            if not source.used_by:  # redis_default is only a guess: absent is fine
                continue
            source.error = redact(str(exc))
        sources.append(source)
    return sources


def _env_extras(value: str) -> dict[str, Any] | None:
    """The extras of an ``AIRFLOW_CONN_*`` value when it is a bulk_fetch connection (JSON or URI form)."""
    text = value.strip()
    try:
        if text.startswith("{"):
            data = json.loads(text)
            if data.get("conn_type") != CONN_TYPE:
                return None
            extra = data.get("extra") or {}
            return json.loads(extra) if isinstance(extra, str) else dict(extra)
        if not text.startswith(f"{CONN_TYPE}://") and not text.startswith("bulk-fetch://"):
            return None
        from airflow.models.connection import Connection

        return Connection(uri=text).extra_dejson
    except Exception:
        return None


def _described(conn_id: str, extras: Any) -> BulkFetchConnection:
    extras = extras if isinstance(extras, dict) else {}
    shared = str(extras.get("rate_limit_scope") or "").strip().lower() == "shared"
    return BulkFetchConnection(
        conn_id=conn_id,
        shared=shared,
        rate_limit_key=str(extras.get("rate_limit_key") or conn_id),
        redis_conn_id=str(extras.get("redis_conn_id") or defaults.REDIS_CONN_ID) if shared else None,
        num_requests=_number(extras.get("rate_limit_requests"), int),
        period_seconds=_number(extras.get("rate_limit_period_seconds"), float),
    )


def _number(value: Any, kind: type) -> Any:
    try:
        return None if value in (None, "") else kind(value)
    except (TypeError, ValueError):
        return None
