"""``BulkFetchHook``: turns an Airflow connection of type ``bulk_fetch`` into an engine run.

The connection is read once (:meth:`BulkFetchHook.get_settings`), before any event loop starts, and validated
with errors that name the connection, the field and the bad value — never the token. The token (the
connection's password) is registered with Airflow's secrets masker and with the engine's redaction.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_bulk_uploader import (
    BasicAuth,
    BearerAuth,
    FetchReport,
    HeaderAuth,
    QueryParamsAuth,
    Ratelimit,
    UploadedData,
    default_retry_policy,
    redact,
    redact_url,
)
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.redaction import REDACTED, register_secret, secret_pattern
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from airflow_provider_bulk_uploader.engine.urls import join_url, same_origin
from airflow_provider_bulk_uploader.engine.validation import require_http_url
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.extras import (
    CONN_TYPE,
    ExtraFieldError,
    field_named,
    parse_extras,
    parse_value,
)

__all__ = ["BulkFetchConfigError", "BulkFetchHook", "BulkFetchSettings"]

DEFAULT_CONN_ID = defaults.CONN_ID
DEFAULT_MAX_CONCURRENCY = defaults.MAX_CONCURRENCY
DEFAULT_TIMEOUT_SECONDS = defaults.TIMEOUT_SECONDS
DEFAULT_RATE_LIMIT_PERIOD_SECONDS = defaults.RATE_LIMIT_PERIOD_SECONDS


@dataclass(frozen=True)
class BulkFetchSettings:
    """Everything a fetch needs from the connection (after per-task overrides).

    Every extra of the connection is parsed by the one table in :mod:`..utils.extras`; the well-known ones
    are attributes here, every one (including extras added later) is :meth:`option`.

    :param base_url: the connection's base URL (``host``), no trailing slash.
    :param auth_type: one of ``header``, ``query``, ``bearer``, ``basic``, ``none``.
    :param auth_name: header name (``header``) or query parameter name (``query``).
    :param rate_limit_requests: requests started per period; ``None`` = unlimited.
    :param rate_limit_period_seconds: rate-limit window in seconds (default 1).
    :param max_concurrency: requests in flight (default 64).
    :param timeout_seconds: timeout of one attempt in seconds (default 30).
    :param headers: extra request headers.
    :param verify_ssl: verify TLS certificates (default True).
    :param test_path: path the UI's Test button GETs (default: the base URL itself).
    :param allowed_origins: origins besides the base URL's that may receive the credentials.
    :param rate_limit_scope: ``task`` (default: the limit holds within each task) or ``shared`` (one
        budget in Redis for every task using ``rate_limit_key``).
    :param rate_limit_key: the shared budget's name (default: the connection id).
    :param redis_conn_id: the Airflow ``redis`` connection holding shared budgets (default ``redis_default``).
    :param rate_limit_mode: ``strict`` (default: at most N arrivals in any window) or ``bucket`` (a token
        bucket: a burst of N, then N per period).
    :param options: every extra's parsed value by name (defaults filled in).
    """

    base_url: str
    auth_type: str = "none"
    auth_name: str | None = None
    rate_limit_requests: int | None = None
    rate_limit_period_seconds: float = DEFAULT_RATE_LIMIT_PERIOD_SECONDS
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    headers: dict[str, str] = field(default_factory=dict)
    verify_ssl: bool = True
    test_path: str | None = None
    allowed_origins: tuple[str, ...] = ()
    rate_limit_scope: str = defaults.RATE_LIMIT_SCOPE
    rate_limit_key: str | None = None
    redis_conn_id: str | None = None
    rate_limit_mode: str = defaults.RATE_LIMIT_MODE
    options: Mapping[str, Any] = field(default_factory=dict)

    def effective_concurrency(self, n_requests: int | None = None) -> int:
        """Requests in flight the engine will really use: ``max_concurrency`` capped at the rate limit's
        requests per period and at the number of requests."""
        value = self.max_concurrency
        if self.rate_limit_requests:
            value = min(value, self.rate_limit_requests)
        if n_requests is not None:
            value = max(1, min(value, n_requests))
        return value

    def describe_rate_limit(self) -> str:
        """E.g. ``20/1s strict, shared via redis_default key 'api'`` or ``none`` (for log lines)."""
        if not self.rate_limit_requests:
            return "none"
        text = f"{self.rate_limit_requests}/{self.rate_limit_period_seconds:g}s {self.rate_limit_mode}"
        if self.rate_limit_scope == "shared":
            text += f", shared via {self.redis_conn_id} key {self.rate_limit_key!r}"
        return text

    @classmethod
    def from_options(cls, base_url: str, options: Mapping[str, Any]) -> BulkFetchSettings:
        """Settings from :func:`~..utils.extras.parse_extras` output (rows without an attribute stay in
        :attr:`options` only)."""
        names = {f.name for f in fields(cls)} - {"base_url", "options"}
        known = {k: v for k, v in options.items() if k in names and v is not None}
        if "headers" in known:
            known["headers"] = dict(known["headers"])
        return cls(base_url=base_url, options=MappingProxyType(dict(options)), **known)

    def option(self, name: str) -> Any:
        """The value of extra ``name`` (its default when the connection does not set it)."""
        if name not in self.options:
            field_named(name)  # raises with a did-you-mean for an unknown name
        return self.options.get(name)

    def with_overrides(self, **overrides: Any) -> BulkFetchSettings:
        """Return a copy with the non-``None`` ``overrides`` applied, each validated by its extra's row
        (the same rules as the connection field); only rows marked overridable may be overridden."""
        options = dict(self.options)
        for name, value in overrides.items():
            if value is None:
                continue
            try:
                row = field_named(name)
                if not row.overridable:
                    raise ExtraFieldError(f"operator argument {name!r} cannot override the connection")
                options[name] = parse_value(row, value, "operator argument")
            except ExtraFieldError as exc:
                raise BulkFetchConfigError(str(exc)) from None
        return BulkFetchSettings.from_options(self.base_url, options)

    def url_for(self, endpoint: str) -> str:
        """``endpoint`` joined to the base URL, or ``endpoint`` itself when it is an absolute URL."""
        return join_url(self.base_url, endpoint)

    @property
    def credential_origins(self) -> list[str]:
        """Origins that may receive the connection's credentials: the base URL's and ``allowed_origins``."""
        return [self.base_url, *self.allowed_origins]


def _scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` without any of ``secrets`` in any letter case or encoded form (config errors may echo a
    token pasted into the wrong field, and Airflow lower-cases some values)."""
    pattern = secret_pattern(s for s in secrets if s)
    return redact(pattern.sub(REDACTED, text) if pattern is not None else text)


def _raw_extras(conn: Any, source: str) -> Mapping[str, Any]:
    """The connection's extras as a mapping. Airflow turns an ``extra`` that is not valid JSON into ``{}``
    (and logs it): that would run the task with defaults, i.e. without a rate limit, so it fails here."""
    raw = getattr(conn, "extra", None)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, Mapping):
        return raw
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError) as exc:
        detail = f" ({exc.msg} at character {exc.pos})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BulkFetchConfigError(
            f"{source} field 'extra' is not valid JSON{detail}; refusing to run with default settings "
            "(no rate limit). Fix the connection's Extra (a JSON object)."
        ) from None
    if not isinstance(parsed, dict):
        raise BulkFetchConfigError(
            f"{source} field 'extra' must be a JSON object, got a JSON {type(parsed).__name__}"
        )
    return parsed


def _base_url(conn: Any, source: str) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise BulkFetchConfigError(
            f"{source}: the Base URL (host) is empty; set it to e.g. https://api.example.com"
        )
    if "://" not in host:
        scheme = conn.schema or "https"
        host = f"{scheme}://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
    try:
        require_http_url("host", host)
    except (TypeError, ValueError):
        raise BulkFetchConfigError(
            f"{source} field 'host' (Base URL) must be an http:// or https:// URL with a host, like "
            f"https://api.example.com; got {redact_url(host)!r}"
        ) from None
    return host.rstrip("/")


class BulkFetchHook(BaseHook):
    """Run bulk fetches against the API described by a ``bulk_fetch`` connection.

    :param bulk_fetch_conn_id: the connection id (default ``bulk_fetch_default``). Connection fields:
        ``host`` = base URL, ``password`` = API token (``login`` too with ``auth_type=basic``); extras
        ``auth_type``, ``auth_name``, ``rate_limit_requests``, ``rate_limit_period_seconds``,
        ``max_concurrency``, ``timeout_seconds``, ``headers`` (JSON object), ``verify_ssl``, ``test_path``,
        ``allowed_origins`` — one table, :data:`~..utils.extras.EXTRA_FIELDS`; unknown keys are refused.
        Credentials go only to the base URL's origin and ``allowed_origins``.
    """

    conn_name_attr = "bulk_fetch_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Bulk Fetch API"

    def __init__(self, bulk_fetch_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bulk_fetch_conn_id = bulk_fetch_conn_id
        self._settings: BulkFetchSettings | None = None
        self._auth: httpx.Auth | None = None
        self._uploader: UploadedData | None = None
        self._redis_params: dict[str, Any] | None = None  # the redis connection, for rate_limit_scope=shared
        self._lock = threading.RLock()  # re-entrant: on_kill may run in a signal handler on this thread
        self._cancelled = False

    # -- configuration -------------------------------------------------------------------------------------

    def get_conn(self) -> BulkFetchSettings:
        """Same as :meth:`get_settings` (``BaseHook`` API)."""
        return self.get_settings()

    def get_settings(self) -> BulkFetchSettings:
        """Read and validate the connection once; later calls return the cached settings."""
        if self._settings is None:
            self._load()
        assert self._settings is not None
        return self._settings

    def get_auth(self) -> httpx.Auth | None:
        """The engine auth object built from the connection (``None`` for ``auth_type=none``)."""
        self.get_settings()
        return self._auth

    def _load(self) -> None:
        conn = self.get_connection(self.bulk_fetch_conn_id)
        source = f"connection {self.bulk_fetch_conn_id!r}"
        token = conn.password or None
        if token:
            mask_secret(token)
            register_secret(token)  # engine-side redaction of every log record, from now on
        try:
            settings = self._shared_limit(self._parse(conn, source, token), source)
            self._auth = self._build_auth(settings, conn.login, token)
        except (BulkFetchConfigError, ExtraFieldError, ValueError, TypeError) as exc:
            raise BulkFetchConfigError(_scrub(str(exc), (token,))) from None
        self._settings = settings

    @staticmethod
    def _parse(conn: Any, source: str, token: str | None) -> BulkFetchSettings:
        options = parse_extras(_raw_extras(conn, source), source)
        where = f"{source} field"
        auth_type = options["auth_type"] or ("header" if token else "none")
        options["auth_type"] = auth_type
        if auth_type == "header":
            options["auth_name"] = options["auth_name"] or "X-API-Key"
        elif auth_type == "query" and not options["auth_name"]:
            raise BulkFetchConfigError(
                f"{where} 'auth_name' is required with auth_type 'query' (the query parameter that carries "
                "the token, e.g. api_key)"
            )
        if auth_type != "none" and not token:
            raise BulkFetchConfigError(
                f"{source}: auth_type {auth_type!r} needs the API token in the connection's Password field "
                "(or set auth_type to 'none')"
            )
        if auth_type == "basic" and not conn.login:
            raise BulkFetchConfigError(f"{source}: auth_type 'basic' needs a Login (username)")
        return BulkFetchSettings.from_options(_base_url(conn, source), options)

    # -- shared rate limit (rate_limit_scope / rate_limit_key / redis_conn_id / rate_limit_mode) -------------

    def _shared_limit(self, settings: BulkFetchSettings, source: str) -> BulkFetchSettings:
        """Check the rate-limit extras together: the key defaults to the connection id; ``shared`` needs a
        rate and a readable redis connection (read now, before any event loop)."""
        key = settings.rate_limit_key or self.bulk_fetch_conn_id
        if settings.rate_limit_scope != "shared":
            return replace(settings, rate_limit_key=key, redis_conn_id=None)
        if not settings.rate_limit_requests:
            raise BulkFetchConfigError(
                f"{source} field 'rate_limit_scope' is 'shared' but no 'rate_limit_requests' is set: "
                "a shared budget needs its size"
            )
        redis_conn_id = settings.redis_conn_id or defaults.REDIS_CONN_ID
        self._redis_params = self._read_redis_connection(redis_conn_id)
        return replace(settings, rate_limit_key=key, redis_conn_id=redis_conn_id)

    def _read_redis_connection(self, redis_conn_id: str) -> dict[str, Any]:
        try:
            conn = self.get_connection(redis_conn_id)
        except Exception as exc:
            raise BulkFetchConfigError(
                f"connection {self.bulk_fetch_conn_id!r}: rate_limit_scope 'shared' needs the redis "
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
        return {
            "host": conn.host or "localhost",
            "port": int(conn.port or 6379),
            "db": db,
            "username": conn.login or None,
            "password": password,
            "ssl": ssl,
        }

    def _rate_limit(self, s: BulkFetchSettings) -> Any:
        """The engine's rate limit for ``s``: a ``Ratelimit`` (task scope) or a ``RedisLimiter`` (shared)."""
        if not s.rate_limit_requests:
            return None
        try:
            rate = Ratelimit(
                s.rate_limit_requests,
                timedelta(seconds=s.rate_limit_period_seconds),
                mode=s.rate_limit_mode,  # type: ignore[arg-type]
                burst=s.option("rate_limit_burst"),
                adaptive=s.option("rate_limit_adaptive"),
            )
        except ValueError as exc:  # e.g. a burst above the requests per period in strict mode
            raise BulkFetchConfigError(f"connection {self.bulk_fetch_conn_id!r}: {exc}") from None
        if s.rate_limit_scope != "shared":
            return rate
        params = self._redis_params
        if params is None:  # settings built elsewhere: read the redis connection now
            params = self._redis_params = self._read_redis_connection(
                s.redis_conn_id or defaults.REDIS_CONN_ID
            )

        def connect() -> Any:
            from redis.asyncio import Redis

            # bounded: a Redis that hangs must fail the run like one that refuses connections
            return Redis(**params, socket_connect_timeout=5.0, socket_timeout=5.0)

        connect.address = f"{params['host']}:{params['port']}/{params['db']}"  # type: ignore[attr-defined]
        return RedisLimiter(
            rate,
            connect,
            s.rate_limit_key or self.bulk_fetch_conn_id,
            attempt_timeout=s.timeout_seconds,
            name=f"connection {self.bulk_fetch_conn_id!r} (shared rate limit {s.rate_limit_key!r} on redis "
            f"connection {s.redis_conn_id!r})",
        )

    @staticmethod
    def _build_auth(settings: BulkFetchSettings, login: str | None, token: str | None) -> httpx.Auth | None:
        if settings.auth_type == "none":
            return None
        assert token
        if settings.auth_type == "header":
            return HeaderAuth(settings.auth_name or "X-API-Key", token)
        if settings.auth_type == "query":
            return QueryParamsAuth(settings.auth_name or "", token)
        if settings.auth_type == "bearer":
            return BearerAuth(token)
        assert login
        return BasicAuth(login, token)

    # -- fetching -----------------------------------------------------------------------------------------

    def build_uploader(
        self,
        urls: Iterable[str],
        store: Any,
        *,
        settings: BulkFetchSettings | None = None,
        retry_max_attempts: int | None = None,
        batch_size: int = defaults.BATCH_SIZE,
        http_backend: defaults.HttpBackend = defaults.HTTP_BACKEND,
        progress_interval: float = defaults.PROGRESS_INTERVAL_SECONDS,
        settle: bool = True,
        max_wait: float | None = None,
        paginator: Any = None,
        record_path: str | None = None,
    ) -> UploadedData:
        """An engine ``UploadedData`` for ``urls`` into ``store`` with the connection's limits.

        :param settings: settings to use instead of the connection's
            (see :meth:`BulkFetchSettings.with_overrides`).
        :param retry_max_attempts: attempts per URL including the first (engine default 5).
        :param batch_size: records handed to the store per call (default 100).
        :param http_backend: ``"aiohttp"`` (fast, default) or ``"httpx"`` (respx-mockable).
        :param progress_interval: seconds between INFO progress lines (default 10).
        :param settle: return only once the rate-limit window of the last requests has passed (default
            ``True``), so the next task instance with this connection — the next mapped instance, the next
            task in the same pool slot — cannot put more than the limit in one window together with this one.
        :param max_wait: seconds; a longer pause stops the run with ``LongWait`` after flushing (see
            ``UploadedData``). ``None`` (default): every pause is waited out.
        :param paginator: and :param record_path: pagination, as ``UploadedData`` takes them (default none).
        """
        s = settings or self.get_settings()
        rate_limit = self._rate_limit(s)
        retry = default_retry_policy(max_attempts=retry_max_attempts) if retry_max_attempts else None
        return UploadedData(
            store,
            url_maker=urls,
            rate_limit=rate_limit,
            max_concurrency=s.max_concurrency,
            retry_policy=retry,
            batch_size=batch_size,
            timeout=s.timeout_seconds,
            headers=dict(s.headers) or None,
            verify_ssl=s.verify_ssl,
            progress_interval=progress_interval,
            http_backend=http_backend,
            settle=settle,
            max_wait=max_wait,
            paginator=paginator,
            record_path=record_path,
            credential_origins=s.credential_origins,
        )

    async def afetch(self, urls: Iterable[str], store: Any, **kwargs: Any) -> FetchReport:
        """Fetch every URL into ``store`` and return the engine's ``FetchReport``.

        Read the connection first (:meth:`get_settings`) when calling this from a running event loop: the
        connection lookup itself is synchronous. ``kwargs`` go to :meth:`build_uploader`.
        """
        uploader = self.build_uploader(urls, store, **kwargs)
        with self._lock:
            if self._cancelled:
                raise asyncio.CancelledError("bulk fetch was cancelled before it started")
            self._uploader = uploader
        try:
            return await uploader.run(auth=self.get_auth())
        finally:
            with self._lock:
                self._uploader = None

    def fetch(self, urls: Iterable[str], store: Any, **kwargs: Any) -> FetchReport:
        """Synchronous :meth:`afetch` (runs its own event loop; for ``@task`` functions and operators)."""
        self.get_settings()  # read the connection before the loop starts
        return asyncio.run(self.afetch(urls, store, **kwargs))

    def cancel(self) -> None:
        """Cancel the running fetch (thread-safe); what succeeded so far is flushed to the store."""
        with self._lock:
            self._cancelled = True
            uploader = self._uploader
        if uploader is not None:
            uploader.cancel()

    # -- UI --------------------------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Validate every field, then one GET to the base URL (or ``test_path``) with the connection's auth;
        ``(ok, message)``. Used by the UI's Test button and ``airflow connections test <id>``.

        Any HTTP status below 400 counts as success. Messages say "this connection" (the UI tests under a
        temporary random id) and never contain the token.
        """
        token: str | None = None
        try:
            token = self.get_connection(self.bulk_fetch_conn_id).password or None
            s = self.get_settings()
            url = s.url_for(s.test_path or "")
            if not same_origin(url, s.base_url):  # test_path is validated relative; belt and braces
                raise BulkFetchConfigError("field 'test_path' must stay on the Base URL's origin")
            with httpx.Client(
                auth=self.get_auth(),
                headers={"Accept-Encoding": defaults.ACCEPT_ENCODING, **s.headers},
                verify=s.verify_ssl,
                timeout=s.timeout_seconds,
            ) as client:
                response = client.get(url)
        except BulkFetchConfigError as exc:
            return False, self._for_test(str(exc), token)
        except Exception as exc:
            return False, self._for_test(f"GET failed: {type(exc).__name__}: {exc}", token)
        shown = redact_url(url)
        if response.status_code < 400:
            return True, f"HTTP {response.status_code} from GET {shown}"
        return False, f"HTTP {response.status_code} {response.reason_phrase} from GET {shown}"

    def _for_test(self, message: str, token: str | None) -> str:
        """``message`` with the (possibly temporary) connection id replaced by "this connection"."""
        conn_id = self.bulk_fetch_conn_id
        message = message.replace(f"connection {conn_id!r}", "this connection")
        if len(conn_id) >= 3:
            message = message.replace(conn_id, "<this connection>")
        return _scrub(message, (token,))
