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
from dataclasses import dataclass, field, replace
from datetime import timedelta
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
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.get_provider_info import AUTH_TYPES, CONN_TYPE

__all__ = ["BulkFetchConfigError", "BulkFetchHook", "BulkFetchSettings"]

DEFAULT_CONN_ID = defaults.CONN_ID
DEFAULT_MAX_CONCURRENCY = defaults.MAX_CONCURRENCY
DEFAULT_TIMEOUT_SECONDS = defaults.TIMEOUT_SECONDS
DEFAULT_RATE_LIMIT_PERIOD_SECONDS = defaults.RATE_LIMIT_PERIOD_SECONDS


@dataclass(frozen=True)
class BulkFetchSettings:
    """Everything a fetch needs from the connection (after per-task overrides).

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

    def with_overrides(self, **overrides: Any) -> BulkFetchSettings:
        """Return a copy with the non-``None`` ``overrides`` applied (validated like connection fields)."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        where = "operator argument"
        if "rate_limit_requests" in clean:
            clean["rate_limit_requests"] = _positive(
                where, "rate_limit_requests", clean["rate_limit_requests"], int
            )
        for name in ("rate_limit_period_seconds", "timeout_seconds"):
            if name in clean:
                clean[name] = _positive(where, name, clean[name], float)
        if "max_concurrency" in clean:
            clean["max_concurrency"] = _positive(where, "max_concurrency", clean["max_concurrency"], int)
        return replace(self, **clean)

    def url_for(self, endpoint: str) -> str:
        """``endpoint`` joined to the base URL, or ``endpoint`` itself when it is an absolute URL."""
        if "://" in endpoint:
            return endpoint
        if not endpoint:
            return self.base_url
        return f"{self.base_url}/{endpoint.lstrip('/')}"


def _positive(where: str, name: str, value: Any, kind: type[int] | type[float]) -> Any:
    try:
        number = kind(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise BulkFetchConfigError(
            f"{where} {name!r} must be a {'whole ' if kind is int else ''}number, got {value!r}"
        ) from None
    if number <= 0:
        raise BulkFetchConfigError(f"{where} {name!r} must be > 0, got {value!r}")
    return number


def _as_bool(where: str, name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise BulkFetchConfigError(f"{where} {name!r} must be true or false, got {value!r}")


def _as_headers(where: str, value: Any) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BulkFetchConfigError(
                f"{where} 'headers' must be a JSON object of header names to values; "
                f"not valid JSON ({exc.msg})"
            ) from None
    if not isinstance(value, Mapping):
        raise BulkFetchConfigError(
            f"{where} 'headers' must be a JSON object of header names to values, got {type(value).__name__}"
        )
    return {str(k): str(v) for k, v in value.items()}


def _base_url(conn: Any) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise BulkFetchConfigError(
            f"connection {conn.conn_id!r}: the Base URL (host) is empty; set it to e.g. https://api.example.com"
        )
    if "://" not in host:
        scheme = conn.schema or "https"
        host = f"{scheme}://{host}"
        if conn.port:
            host = f"{host}:{conn.port}"
    return host.rstrip("/")


class BulkFetchHook(BaseHook):
    """Run bulk fetches against the API described by a ``bulk_fetch`` connection.

    :param bulk_fetch_conn_id: the connection id (default ``bulk_fetch_default``). Connection fields:
        ``host`` = base URL, ``password`` = API token (``login`` too with ``auth_type=basic``); extras
        ``auth_type``, ``auth_name``, ``rate_limit_requests``, ``rate_limit_period_seconds``,
        ``max_concurrency``, ``timeout_seconds``, ``headers`` (JSON object), ``verify_ssl``, ``test_path``.
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
        where = f"connection {self.bulk_fetch_conn_id!r} field"
        if conn.password:
            mask_secret(conn.password)
        extras = conn.extra_dejson or {}

        def extra(name: str) -> Any:
            value = extras.get(name)
            if value in (None, ""):
                value = extras.get(f"extra__{CONN_TYPE}__{name}")
            return None if value == "" else value

        auth_type = str(extra("auth_type") or ("header" if conn.password else "none")).strip().lower()
        if auth_type not in AUTH_TYPES:
            raise BulkFetchConfigError(
                f"{where} 'auth_type' must be one of {', '.join(AUTH_TYPES)}; got {auth_type!r}"
            )
        auth_name = extra("auth_name")
        if auth_type == "header":
            auth_name = auth_name or "X-API-Key"
        elif auth_type == "query" and not auth_name:
            raise BulkFetchConfigError(
                f"{where} 'auth_name' is required with auth_type 'query' (the query parameter that carries "
                "the token, e.g. api_key)"
            )
        if auth_type != "none" and not conn.password:
            raise BulkFetchConfigError(
                f"connection {self.bulk_fetch_conn_id!r}: auth_type {auth_type!r} needs the API token in the "
                "connection's Password field (or set auth_type to 'none')"
            )
        if auth_type == "basic" and not conn.login:
            raise BulkFetchConfigError(
                f"connection {self.bulk_fetch_conn_id!r}: auth_type 'basic' needs a Login (username)"
            )

        rate = extra("rate_limit_requests")
        period = extra("rate_limit_period_seconds")
        concurrency = extra("max_concurrency")
        timeout = extra("timeout_seconds")
        verify = extra("verify_ssl")
        settings = BulkFetchSettings(
            base_url=_base_url(conn),
            auth_type=auth_type,
            auth_name=str(auth_name) if auth_name else None,
            rate_limit_requests=None if rate is None else _positive(where, "rate_limit_requests", rate, int),
            rate_limit_period_seconds=(
                DEFAULT_RATE_LIMIT_PERIOD_SECONDS
                if period is None
                else _positive(where, "rate_limit_period_seconds", period, float)
            ),
            max_concurrency=(
                DEFAULT_MAX_CONCURRENCY
                if concurrency is None
                else _positive(where, "max_concurrency", concurrency, int)
            ),
            timeout_seconds=(
                DEFAULT_TIMEOUT_SECONDS
                if timeout is None
                else _positive(where, "timeout_seconds", timeout, float)
            ),
            headers=_as_headers(where, extra("headers")),
            verify_ssl=True if verify is None else _as_bool(where, "verify_ssl", verify),
            test_path=extra("test_path"),
        )
        self._auth = self._build_auth(settings, conn.login, conn.password)
        self._settings = settings

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
        rate_limit = (
            Ratelimit(s.rate_limit_requests, timedelta(seconds=s.rate_limit_period_seconds))
            if s.rate_limit_requests
            else None
        )
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
        """One GET to the base URL (or ``test_path``) with the connection's auth; ``(ok, message)``.

        Any HTTP status below 400 counts as success. The message never contains the token.
        """
        try:
            s = self.get_settings()
            url = s.url_for(s.test_path or "")
            with httpx.Client(
                auth=self.get_auth(), headers=s.headers, verify=s.verify_ssl, timeout=s.timeout_seconds
            ) as client:
                response = client.get(url)
        except BulkFetchConfigError as exc:
            return False, redact(str(exc))
        except Exception as exc:
            return False, redact(f"GET failed: {type(exc).__name__}: {exc}")
        shown = redact_url(url)
        if response.status_code < 400:
            return True, f"HTTP {response.status_code} from GET {shown}"
        return False, f"HTTP {response.status_code} {response.reason_phrase} from GET {shown}"
