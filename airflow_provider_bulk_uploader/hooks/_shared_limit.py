"""A shared rate budget (``rate_limit_scope=shared``) wired from Airflow connections: the ``redis``
connection read once, before any event loop, and the engine's
:class:`~airflow_provider_bulk_uploader.engine.shared_ratelimit.RedisLimiter` built on it per run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk.log import mask_secret

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.redaction import register_secret
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter, redis_address
from airflow_provider_bulk_uploader.engine.spec import FetchSpec
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

__all__ = ["RedisParams", "read_redis_connection", "shared_limiter"]


@dataclass(frozen=True)
class RedisParams:
    """Where a shared budget lives, read from an Airflow ``redis`` connection (the password never shows in
    ``repr``)."""

    host: str
    port: int
    db: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool = False

    @property
    def address(self) -> str:
        """``host:port/db`` (never the password): how messages name the server."""
        return redis_address(self.client_kwargs())

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``redis.asyncio.Redis``."""
        return {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
            "ssl": self.ssl,
        }


def read_redis_connection(
    get_connection: Callable[[str], Any], redis_conn_id: str, owner_conn_id: str
) -> RedisParams:
    """The ``redis`` connection ``redis_conn_id`` that holds the shared budgets of connection
    ``owner_conn_id``; its password is masked in Airflow's logs and redacted by the engine from now on."""
    try:
        conn = get_connection(redis_conn_id)
    except Exception as exc:
        raise BulkFetchConfigError(
            f"connection {owner_conn_id!r}: rate_limit_scope 'shared' needs the redis "
            f"connection {redis_conn_id!r} (redis_conn_id), which could not be read: {type(exc).__name__}"
        ) from None
    password = None if str(conn.password).lower() in ("none", "false", "") else conn.password
    if password:
        mask_secret(password)
        register_secret(password)
    extras = conn.extra_dejson or {}
    db: Any = extras.get("db")
    if db in (None, "") and conn.schema and str(conn.schema).isdigit():
        db = conn.schema  # redis://host:6379/1 puts the database in the path
    try:
        db = int(db or 0)
    except (TypeError, ValueError):
        raise BulkFetchConfigError(
            f"connection {redis_conn_id!r} field 'db' must be a whole number, got {db!r}"
        ) from None
    ssl = str(extras.get("ssl", False)).strip().lower() in ("true", "1", "yes", "on")
    return RedisParams(
        host=conn.host or "localhost",
        port=int(conn.port or 6379),
        db=db,
        username=conn.login or None,
        password=password,
        ssl=ssl,
    )


def shared_limiter(spec: FetchSpec, params: RedisParams, *, conn_id: str, redis_conn_id: str) -> RedisLimiter:
    """The run's limiter for a ``shared`` spec: one budget in Redis under ``spec.rate_limit_key``."""
    assert spec.rate_limit is not None and spec.rate_limit_key is not None  # FetchSpec checks shared scope

    def connect() -> Any:
        from redis.asyncio import Redis

        # bounded: a Redis that hangs must fail the run like one that refuses connections
        return Redis(
            **params.client_kwargs(),
            socket_connect_timeout=defaults.SHARED_REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=defaults.SHARED_REDIS_SOCKET_TIMEOUT_SECONDS,
        )

    connect.address = params.address  # type: ignore[attr-defined]
    return RedisLimiter(
        spec.rate_limit,
        connect,
        spec.rate_limit_key,
        attempt_timeout=spec.timeout,
        name=f"connection {conn_id!r} (shared rate limit {spec.rate_limit_key!r} on redis connection "
        f"{redis_conn_id!r})",
    )
