"""A ``bulk_fetch`` connection read into :class:`BulkFetchSettings`, and the settings into the engine's
:class:`~airflow_provider_bulk_uploader.engine.spec.FetchSpec`.

Every extra is parsed by the one table in :mod:`..utils.extras`; what depends on several fields (the auth
type's default, a shared budget's key and Redis connection) is resolved here, once, into the same options
mapping, so a task's overrides (:meth:`BulkFetchSettings.with_overrides`) rebuild from complete values.
Errors name the connection, the field and the bad value — never the token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import httpx

from airflow_provider_bulk_uploader.engine import (
    BasicAuth,
    BearerAuth,
    FetchSpec,
    HeaderAuth,
    OAuth2ClientCredentials,
    QueryParamsAuth,
    Ratelimit,
    default_retry_policy,
    defaults,
    redact,
    redact_url,
)
from airflow_provider_bulk_uploader.engine.redaction import REDACTED, secret_pattern
from airflow_provider_bulk_uploader.engine.urls import join_url
from airflow_provider_bulk_uploader.engine.validation import require_http_url
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.extras import (
    OAUTH2_FIELDS,
    ExtraFieldError,
    check_override,
    field_named,
    parse_extras,
)

__all__ = ["BulkFetchSettings", "build_auth", "read_settings", "scrub"]

#: Header an API token goes in when ``auth_type`` is ``header`` and ``auth_name`` is empty.
DEFAULT_AUTH_HEADER = "X-API-Key"


@dataclass(frozen=True)
class BulkFetchSettings:
    """Everything a fetch needs from the connection (after per-task overrides): the base URL and every
    extra's parsed value (defaults filled in), read as attributes (``settings.rate_limit_requests``) or
    with :meth:`option`. Build the engine's spec with :meth:`to_spec`.

    :param conn_id: the connection's id (the default name of a shared budget).
    :param base_url: the connection's base URL (``host``), no trailing slash.
    :param options: every extra's parsed value by name (:data:`~..utils.extras.EXTRA_FIELDS`), with the
        fields that depend on others resolved: ``auth_type`` (``header`` with a token, else ``none``),
        ``auth_name`` (``X-API-Key`` for ``header``), ``rate_limit_key`` (the connection id) and
        ``redis_conn_id`` (``redis_default`` in ``shared`` scope, ``None`` otherwise).
    """

    conn_id: str
    base_url: str
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("options")
        if options is not None and name in options:
            return options[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def from_options(
        cls, conn_id: str, base_url: str, options: Mapping[str, Any], *, token: bool
    ) -> BulkFetchSettings:
        """Settings from :func:`~..utils.extras.parse_extras` output, the fields that depend on others
        resolved (see the class docstring) and checked together.

        :param token: whether the connection holds a token (the ``auth_type`` default depends on it).
        """
        source = f"connection {conn_id!r}"
        values = dict(options)
        auth_type = values.get("auth_type") or ("header" if token else "none")
        values["auth_type"] = auth_type
        if auth_type == "header":
            values["auth_name"] = values.get("auth_name") or DEFAULT_AUTH_HEADER
        elif auth_type == "query" and not values.get("auth_name"):
            raise BulkFetchConfigError(
                f"{source} field 'auth_name' is required with auth_type 'query' (the query parameter that "
                "carries the token, e.g. api_key)"
            )
        values["headers"] = dict(values.get("headers") or {})
        values["allowed_origins"] = tuple(values.get("allowed_origins") or ())
        values["rate_limit_key"] = values.get("rate_limit_key") or conn_id
        if values.get("rate_limit_scope") == "shared":
            if not values.get("rate_limit_requests"):
                raise BulkFetchConfigError(
                    f"{source} field 'rate_limit_scope' is 'shared' but no 'rate_limit_requests' is set: "
                    "a shared budget needs its size"
                )
            values["redis_conn_id"] = values.get("redis_conn_id") or defaults.REDIS_CONN_ID
        else:
            values["redis_conn_id"] = None
        settings = cls(conn_id=conn_id, base_url=base_url, options=MappingProxyType(values))
        try:
            settings.rate_limit  # noqa: B018 - Ratelimit checks what depends on several fields (a burst above N)
        except ValueError as exc:
            raise BulkFetchConfigError(f"{source}: {exc}") from None
        return settings

    def option(self, name: str) -> Any:
        """The value of extra ``name`` (its default when the connection does not set it)."""
        if name not in self.options:
            field_named(name)  # raises with a did-you-mean for an unknown name
        return self.options.get(name)

    def with_overrides(self, **overrides: Any) -> BulkFetchSettings:
        """A copy with ``overrides`` applied, each validated by its extra's row (the same rules as the
        connection field); only rows marked overridable may be overridden. An override left at
        :data:`~airflow_provider_bulk_uploader.engine.spec.NOT_GIVEN` changes nothing; ``None`` switches the
        connection's setting off where the row can be off (``rate_limit_requests=None``: no rate limit) and
        changes nothing elsewhere."""
        options = dict(self.options)
        for name, value in overrides.items():
            applies, parsed = check_override(name, value)
            if applies:
                options[name] = parsed
        return BulkFetchSettings.from_options(
            self.conn_id, self.base_url, options, token=self.options["auth_type"] != "none"
        )

    def url_for(self, endpoint: str) -> str:
        """``endpoint`` joined to the base URL, or ``endpoint`` itself when it is an absolute URL."""
        return join_url(self.base_url, endpoint)

    @property
    def credential_origins(self) -> list[str]:
        """Origins that may receive the connection's credentials: the base URL's and ``allowed_origins``."""
        return [self.base_url, *self.options["allowed_origins"]]

    @property
    def rate_limit(self) -> Ratelimit | None:
        """The declared quota (``None``: no limit)."""
        requests = self.options["rate_limit_requests"]
        if not requests:
            return None
        return Ratelimit(
            requests,
            timedelta(seconds=self.options["rate_limit_period_seconds"]),
            mode=self.options["rate_limit_mode"],  # a row's choice: strict or bucket
            burst=self.options["rate_limit_burst"],
            adaptive=self.options["rate_limit_adaptive"],
        )

    def to_spec(
        self,
        *,
        retry_max_attempts: int | None = None,
        settle: bool = True,
        **run_settings: Any,
    ) -> FetchSpec:
        """The engine's spec: the connection's limits, timeouts, headers, TLS and credential scope, plus the
        run's own settings (any other :class:`~airflow_provider_bulk_uploader.engine.spec.FetchSpec` field,
        e.g. ``paginator``, ``record_path``, ``http_backend``, ``max_wait``; :data:`NOT_GIVEN` = default).

        :param retry_max_attempts: attempts per URL including the first (default: the engine's, 5).
        :param settle: return only once the rate-limit window of the last requests has passed (default
            ``True``), so the next task instance with this connection — the next mapped instance, the next
            task in the same pool slot — cannot put more than the limit in one window together with this one.
        """
        o = self.options
        return FetchSpec.build(
            rate_limit=self.rate_limit,
            rate_limit_scope=o["rate_limit_scope"],
            rate_limit_key=o["rate_limit_key"],
            max_concurrency=o["max_concurrency"],
            timeout=o["timeout_seconds"],
            headers=o["headers"] or {},
            verify_ssl=o["verify_ssl"],
            credential_origins=self.credential_origins,
            retry_policy=default_retry_policy(max_attempts=retry_max_attempts)
            if retry_max_attempts
            else None,
            settle=settle,
            **run_settings,
        )


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` without any of ``secrets`` in any letter case or encoded form (config errors may echo a
    token pasted into the wrong field, and Airflow lower-cases some values)."""
    pattern = secret_pattern(s for s in secrets if s)
    return redact(pattern.sub(REDACTED, text) if pattern is not None else text)


def read_settings(conn: Any, conn_id: str) -> BulkFetchSettings:
    """Parse and check connection ``conn`` (an Airflow ``Connection``) with id ``conn_id``.

    :raises BulkFetchConfigError: naming the connection and the field (the caller scrubs the token).
    """
    source = f"connection {conn_id!r}"
    token = conn.password or None
    try:
        options = parse_extras(_raw_extras(conn, source), source)
    except ExtraFieldError as exc:
        raise BulkFetchConfigError(str(exc)) from None
    settings = BulkFetchSettings.from_options(conn_id, _base_url(conn, source), options, token=bool(token))
    auth_type = settings.auth_type
    oauth2 = auth_type == "oauth2_client_credentials"
    # what the UI form may save for every connection (the client auth's default, an empty {}) is no stray
    stray = [
        name
        for name in OAUTH2_FIELDS
        if not oauth2 and options.get(name) and options[name] != field_named(name).ui_default
    ]
    if stray:  # a token URL without the auth type would send the client secret to the API as a token
        raise BulkFetchConfigError(
            f"{source} field {stray[0]!r} is only used with auth_type 'oauth2_client_credentials' (auth_type "
            f"is {auth_type!r}): set auth_type, or remove {stray[0]!r}"
        )
    if oauth2 and not options.get("oauth2_url"):
        raise BulkFetchConfigError(
            f"{source} field 'oauth2_url' is required with auth_type 'oauth2_client_credentials' (the "
            "authorization server's token endpoint, e.g. https://login.example.com/oauth2/token)"
        )
    if auth_type != "none" and not token:
        secret = "the client secret" if oauth2 else "the API token"
        raise BulkFetchConfigError(
            f"{source}: auth_type {auth_type!r} needs {secret} in the connection's Password field "
            "(or set auth_type to 'none')"
        )
    if auth_type == "basic" and not conn.login:
        raise BulkFetchConfigError(f"{source}: auth_type 'basic' needs a Login (username)")
    if oauth2 and not conn.login:
        raise BulkFetchConfigError(
            f"{source}: auth_type 'oauth2_client_credentials' needs the client id in the Login field"
        )
    return settings


def build_auth(
    settings: BulkFetchSettings,
    login: str | None,
    token: str | None,
    *,
    on_token: Callable[[str], Any] | None = None,
) -> httpx.Auth | None:
    """The engine auth object for the connection (``None`` for ``auth_type=none``).

    :param on_token: called with every OAuth2 access token fetched (the hook masks it in Airflow's logs).
    """
    auth_type = settings.auth_type
    if auth_type == "none":
        return None
    assert token
    if auth_type == "oauth2_client_credentials":
        assert login
        return OAuth2ClientCredentials(
            settings.oauth2_url,
            login,
            token,
            scope=settings.oauth2_scope,
            audience=settings.oauth2_audience,
            token_auth_method=settings.oauth2_client_auth or defaults.OAUTH2_TOKEN_AUTH_METHOD,
            token_params=settings.oauth2_params,
            timeout=settings.timeout_seconds,
            verify_ssl=settings.verify_ssl,
            on_token=on_token,
        )
    if auth_type == "header":
        return HeaderAuth(settings.auth_name, token)
    if auth_type == "query":
        return QueryParamsAuth(settings.auth_name, token)
    if auth_type == "bearer":
        return BearerAuth(token)
    assert login
    return BasicAuth(login, token)


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
