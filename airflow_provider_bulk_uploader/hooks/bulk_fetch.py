"""``BulkFetchHook``: turns an Airflow connection of type ``bulk_fetch`` into an engine run.

The connection is read once (:meth:`BulkFetchHook.get_settings`, parsing in :mod:`._connection`), before
any event loop starts, and validated with errors that name the connection, the field and the bad value —
never the token. The token (the connection's password) is registered with Airflow's secrets masker and with
the engine's redaction. A shared rate budget is wired in :mod:`._shared_limit`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

import httpx
from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_bulk_uploader.engine import (
    AuthenticationError,
    FetchReport,
    FetchSpec,
    OAuth2ClientCredentials,
    UploadedData,
    defaults,
    redact_url,
)
from airflow_provider_bulk_uploader.engine.ratelimit import Limiter
from airflow_provider_bulk_uploader.engine.redaction import register_secret
from airflow_provider_bulk_uploader.engine.urls import same_origin
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.hooks._connection import (
    BulkFetchSettings,
    build_auth,
    read_settings,
    scrub,
)
from airflow_provider_bulk_uploader.hooks._shared_limit import (
    RedisParams,
    read_redis_connection,
    shared_limiter,
)
from airflow_provider_bulk_uploader.utils.extras import CONN_TYPE, ExtraFieldError

__all__ = ["BulkFetchConfigError", "BulkFetchHook", "BulkFetchSettings"]

DEFAULT_CONN_ID = defaults.CONN_ID


class BulkFetchHook(BaseHook):
    """Run bulk fetches against the API described by a ``bulk_fetch`` connection.

    :param bulk_fetch_conn_id: the connection id (default ``bulk_fetch_default``). Connection fields:
        ``host`` = base URL, ``password`` = API token (``login`` too with ``auth_type=basic``; with
        ``oauth2_client_credentials`` login = client id, password = client secret, extra ``oauth2_url``);
        extras
        ``auth_type``, ``auth_name``, ``rate_limit_requests``, ``rate_limit_period_seconds``,
        ``max_concurrency``, ``timeout_seconds``, ``headers`` (JSON object), ``verify_ssl``, ``test_path``,
        ``allowed_origins`` … — one table, :data:`~..utils.extras.EXTRA_FIELDS`; unknown keys are refused.
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
        self._redis: RedisParams | None = None  # the redis connection, for rate_limit_scope=shared
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
            settings = read_settings(conn, self.bulk_fetch_conn_id)
            if settings.rate_limit_scope == "shared":  # read now, before any event loop
                self._redis = read_redis_connection(
                    self.get_connection, settings.redis_conn_id, self.bulk_fetch_conn_id
                )
            self._auth = build_auth(settings, conn.login, token, on_token=mask_secret)
        except (BulkFetchConfigError, ExtraFieldError, ValueError, TypeError) as exc:
            message = str(exc)  # an engine auth's argument error does not name the connection: say it
            message = message if message.startswith(source) else f"{source}: {message}"
            raise BulkFetchConfigError(scrub(message, (token,))) from None
        self._settings = settings

    # -- fetching -----------------------------------------------------------------------------------------

    def build_spec(self, settings: BulkFetchSettings | None = None, **run_settings: Any) -> FetchSpec:
        """The engine's :class:`~airflow_provider_bulk_uploader.engine.spec.FetchSpec` for the connection
        (or ``settings``, e.g. :meth:`BulkFetchSettings.with_overrides`); ``run_settings`` go to
        :meth:`BulkFetchSettings.to_spec`. A bad run setting raises :class:`BulkFetchConfigError`."""
        try:
            return (settings or self.get_settings()).to_spec(**run_settings)
        except (TypeError, ValueError) as exc:
            raise BulkFetchConfigError(str(exc)) from None

    def limiter_for(self, spec: FetchSpec, settings: BulkFetchSettings | None = None) -> Limiter | None:
        """The run's shared limiter when ``spec`` is in ``shared`` scope (else ``None``: the engine builds
        the in-process one from ``spec.rate_limit``)."""
        if not spec.shared:
            return None
        s = settings or self.get_settings()
        if self._redis is None:  # settings built elsewhere: read the redis connection now
            self._redis = read_redis_connection(self.get_connection, s.redis_conn_id, self.bulk_fetch_conn_id)
        return shared_limiter(
            spec, self._redis, conn_id=self.bulk_fetch_conn_id, redis_conn_id=s.redis_conn_id
        )

    def build_uploader(
        self,
        urls: Iterable[str],
        store: Any,
        *,
        settings: BulkFetchSettings | None = None,
        spec: FetchSpec | None = None,
        **run_settings: Any,
    ) -> UploadedData:
        """An engine ``UploadedData`` for ``urls`` into ``store`` with the connection's limits.

        :param settings: settings to use instead of the connection's
            (:meth:`BulkFetchSettings.with_overrides`).
        :param spec: a spec built already (:meth:`build_spec`); else one is built from ``settings`` and
            ``run_settings`` (``retry_max_attempts``, ``settle`` — default ``True`` —, ``batch_size``,
            ``http_backend``, ``progress_interval``, ``max_wait``, ``paginator``, ``record_path`` …).
        """
        if spec is None:
            spec = self.build_spec(settings, **run_settings)
        elif run_settings:
            raise TypeError(f"give either spec or run settings, not both: {sorted(run_settings)}")
        limiter = self.limiter_for(spec, settings)
        return UploadedData(store, url_maker=urls, rate_limit=limiter, spec=spec)

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
        temporary random id) and never contain the token. With ``oauth2_client_credentials`` it fetches a
        token first, then makes the request with it, and says which of the two steps failed.
        """
        token: str | None = None
        try:
            token = self.get_connection(self.bulk_fetch_conn_id).password or None
            s = self.get_settings()
            url = s.url_for(s.test_path or "")
            if not same_origin(url, s.base_url):  # test_path is validated relative; belt and braces
                raise BulkFetchConfigError("field 'test_path' must stay on the Base URL's origin")
            auth = self.get_auth()
            if isinstance(auth, OAuth2ClientCredentials):
                ok, message = self._test_oauth2(s, url, auth)
                return ok, self._for_test(message, token)
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

    @staticmethod
    def _test_oauth2(s: BulkFetchSettings, url: str, auth: OAuth2ClientCredentials) -> tuple[bool, str]:
        """The Test button with OAuth2: step 1 a token from ``token_url``, step 2 the GET with it."""
        token_url, shown = redact_url(auth.token_url), redact_url(url)
        try:
            fresh = auth.current_sync()
        except AuthenticationError as exc:
            return False, f"step 1 of 2 (access token from {token_url}) failed: {exc}"
        except Exception as exc:
            return False, f"step 1 of 2 (access token from {token_url}) failed: {type(exc).__name__}: {exc}"
        life = fresh.lifetime_seconds
        got = (
            f"step 1: access token from {token_url} ({f'expires in {life:g} s' if life else 'no expires_in'})"
        )
        try:
            with httpx.Client(
                auth=auth,
                headers={"Accept-Encoding": defaults.ACCEPT_ENCODING, **s.headers},
                verify=s.verify_ssl,
                timeout=s.timeout_seconds,
            ) as client:
                response = client.get(url)
        except Exception as exc:
            return False, f"{got}; step 2 of 2 (GET {shown} with it) failed: {type(exc).__name__}: {exc}"
        if response.status_code < 400:
            return True, f"{got}; step 2: HTTP {response.status_code} from GET {shown}"
        hint = (
            ": the API refuses this client's tokens (check scope and audience)"
            if response.status_code in (401, 403)
            else ""
        )
        return False, (
            f"{got}; step 2 of 2 failed: HTTP {response.status_code} {response.reason_phrase} from GET "
            f"{shown} with that token{hint}"
        )

    def _for_test(self, message: str, token: str | None) -> str:
        """``message`` with the (possibly temporary) connection id replaced by "this connection"."""
        conn_id = self.bulk_fetch_conn_id
        message = message.replace(f"connection {conn_id!r}", "this connection")
        if len(conn_id) >= 3:
            message = message.replace(conn_id, "<this connection>")
        return scrub(message, (token,))
