"""The connection's extra fields, as one table: name, type, bounds, default, UI label and description.

Everything about an extra is read from its row: the hook parses and validates the connection's extras with
:func:`parse_extras`, per-task overrides go through :func:`parse_value` with the same row, and
``get_provider_info()`` builds the UI form (``conn-fields``) from :func:`conn_fields`. Adding an extra is
adding a row to :data:`EXTRA_FIELDS` (its value is then ``BulkFetchSettings.option(name)``).

This module imports nothing from Airflow (``get_provider_info()`` reads it at start-up); errors are
:class:`ExtraFieldError` (a ``ValueError``), which the hook turns into ``BulkFetchConfigError`` with the
connection's id and the token scrubbed.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.validation import require_http_url, require_https_url

__all__ = [
    "AUTH_TYPES",
    "CONN_TYPE",
    "EXTRA_FIELDS",
    "OAUTH2_FIELDS",
    "ExtraField",
    "ExtraFieldError",
    "check_override",
    "conn_fields",
    "field_named",
    "parse_extras",
    "parse_value",
]

CONN_TYPE = "bulk_fetch"
AUTH_TYPES = ("header", "query", "bearer", "basic", "oauth2_client_credentials", "none")
#: The extras that only mean something with ``auth_type: oauth2_client_credentials`` (refused otherwise:
#: an oauth2_url without that auth type would send the client secret to the API as a plain token).
#: Their names avoid the words Airflow's secrets masker hides by key ("token", "secret" …): a token URL is a
#: setting, and would otherwise show as "***" in the UI and the API, and be masked in every log line.
OAUTH2_FIELDS = ("oauth2_url", "oauth2_scope", "oauth2_audience", "oauth2_client_auth", "oauth2_params")
#: Prefix of the keys older Airflow forms wrote extras under: ``extra__bulk_fetch__<name>``.
LEGACY_PREFIX = f"extra__{CONN_TYPE}__"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ExtraFieldError(ValueError):
    """An extra (or an override of one) has a bad value, or the key is unknown."""


@dataclass(frozen=True)
class ExtraField:
    """One row of the table.

    :param name: the key in the connection's extras (and the operator argument that overrides it, if any).
    :param kind: ``int``, ``float`` (seconds), ``bool``, ``str``, ``choice``, ``headers`` (JSON object),
        ``origins`` (list of URLs), ``path`` (relative to the base URL), ``secure_url`` (an https URL, http
        only on loopback) or ``params`` (JSON object of form parameters).
    :param minimum: / :param maximum: inclusive bounds for ``int``; for ``float`` the value must be
        ``> minimum`` and ``<= maximum``. Non-finite numbers are always refused.
    :param default: the value when the extra is absent or empty (read from ``engine/defaults.py``).
    :param overridable: whether a task may override it (``BulkFetchSettings.with_overrides``).
    :param can_be_off: whether ``None`` means "off" for this setting (``rate_limit_requests``: no limit), so a
        task's ``None`` override switches the connection's value off; elsewhere ``None`` changes nothing.
    :param ui_type: JSON-schema type(s) for the UI form.
    """

    name: str
    kind: str
    label: str
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    overridable: bool = False
    can_be_off: bool = False
    ui_type: Any = None
    ui_default: Any = None

    def ui(self) -> dict[str, Any]:
        """The ``conn-fields`` entry Airflow's connection form is built from."""
        schema: dict[str, Any] = {"type": self.ui_type}
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.kind == "int" and self.minimum is not None:
            schema["minimum"] = int(self.minimum)
        if self.kind == "float" and self.minimum is not None:
            schema["exclusiveMinimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        default = self.ui_default if self.ui_default is not None else self.default
        if default is not None:
            schema["default"] = default
        return {"label": self.label, "description": self.description, "schema": schema}


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "auth_type",
        "choice",
        "Auth type",
        "How the API token (the Password field) is sent: 'header' (header named by Auth name), 'query' "
        "(query parameter named by Auth name), 'bearer' (Authorization: Bearer), 'basic' (Login + "
        "Password), 'oauth2_client_credentials' (Login = client id, Password = client secret: a bearer "
        "token from the OAuth2 token URL below, renewed before it expires) or 'none'. Default: 'header' "
        "with a token, 'none' without.",
        choices=AUTH_TYPES,
        ui_type="string",
        ui_default="header",
    ),
    ExtraField(
        "auth_name",
        "str",
        "Auth name",
        "Header name (auth_type=header, e.g. X-API-Key) or query parameter name (auth_type=query, "
        "e.g. api_key).",
        ui_type=["string", "null"],
        ui_default="X-API-Key",
    ),
    ExtraField(
        "rate_limit_requests",
        "int",
        "Rate limit: requests",
        "At most this many requests per rate-limit period, retries included, e.g. 10. Empty = no limit.",
        minimum=1,
        maximum=defaults.MAX_RATE_LIMIT_REQUESTS,
        overridable=True,
        can_be_off=True,
        ui_type=["integer", "null"],
    ),
    ExtraField(
        "rate_limit_period_seconds",
        "float",
        "Rate limit: period (seconds)",
        f"Length of the rate-limit window in seconds (default {defaults.RATE_LIMIT_PERIOD_SECONDS:g}).",
        default=defaults.RATE_LIMIT_PERIOD_SECONDS,
        minimum=0,
        maximum=defaults.MAX_SECONDS,
        overridable=True,
        ui_type=["number", "null"],
    ),
    ExtraField(
        "max_concurrency",
        "int",
        "Max concurrency",
        f"Requests in flight at once (default {defaults.MAX_CONCURRENCY}).",
        default=defaults.MAX_CONCURRENCY,
        minimum=1,
        maximum=defaults.MAX_CONCURRENCY_LIMIT,
        overridable=True,
        ui_type=["integer", "null"],
    ),
    ExtraField(
        "timeout_seconds",
        "float",
        "Timeout (seconds)",
        f"Timeout of one attempt in seconds (default {defaults.TIMEOUT_SECONDS:g}).",
        default=defaults.TIMEOUT_SECONDS,
        minimum=0,
        maximum=defaults.MAX_SECONDS,
        overridable=True,
        ui_type=["number", "null"],
    ),
    ExtraField(
        "headers",
        "headers",
        "Extra headers (JSON)",
        'JSON object of headers sent with every request, e.g. {"Accept": "application/json"}.',
        ui_type=["string", "null"],
    ),
    ExtraField(
        "verify_ssl",
        "bool",
        "Verify SSL",
        "Verify the server's TLS certificate (default true).",
        default=True,
        ui_type=["boolean", "null"],
    ),
    ExtraField(
        "test_path",
        "path",
        "Test path",
        "Path (relative to the base URL) the Test button GETs, e.g. /health; empty = the base URL.",
        ui_type=["string", "null"],
    ),
    ExtraField(
        "rate_limit_mode",
        "choice",
        "Rate limit: mode",
        "'strict' (default): at most N requests arrive in any window of the period — for APIs that count a "
        "sliding window; delivers N/(period + latency). 'bucket': a token bucket (a burst of N, then N per "
        "period) — for APIs that meter with a bucket; uses their whole quota but can put up to 2N in one "
        "window, which a sliding-window API answers with 429s.",
        default=defaults.RATE_LIMIT_MODE,
        choices=defaults.RATE_LIMIT_MODES,
        ui_type=["string", "null"],
    ),
    ExtraField(
        "rate_limit_burst",
        "int",
        "Rate limit: burst",
        "Requests that may leave back to back; sustained sends are spaced period / requests apart. Read "
        "it from the API's gateway: nginx limit_req without burst -> 1, with burst=B -> B; a token bucket "
        "of capacity C (AWS API Gateway's burst, Stripe) -> C; a sliding window or a rate estimate "
        f"(HAProxy) -> 1. Empty = {defaults.RATE_LIMIT_BURST} (paced; above 1000 requests/s what 1 ms "
        "holds), safe against every gateway measured; = the requests per period sends them all at once. "
        "In 'strict' mode at most the requests per period (a larger bucket is mode 'bucket').",
        minimum=1,
        maximum=defaults.MAX_RATE_LIMIT_REQUESTS,
        overridable=True,
        ui_type=["integer", "null"],
    ),
    ExtraField(
        "rate_limit_adaptive",
        "bool",
        "Rate limit: adapt to rejections",
        "When the API answers 429 or 503 without saying when to come back, lower the pace and burst, then "
        "climb back while no rejection comes (never above the declared rate); logged, and in the summary "
        "(effective_rate_min, rejections). Default true; false = a 429 without Retry-After pauses every "
        f"request for {defaults.PAUSE_AFTER_429_SECONDS:g} s instead.",
        default=defaults.RATE_LIMIT_ADAPTIVE,
        overridable=True,
        ui_type=["boolean", "null"],
    ),
    ExtraField(
        "rate_limit_scope",
        "choice",
        "Rate limit: scope",
        "'task' (default): each task enforces the limit alone, so K parallel tasks (mapped instances, "
        "backfill runs) send K times it. 'shared': one budget in Redis for every task using the same Rate "
        "limit key — mapped tasks, backfills and Celery workers together stay within the limit. Needs the "
        "Redis connection below.",
        default=defaults.RATE_LIMIT_SCOPE,
        choices=defaults.RATE_LIMIT_SCOPES,
        ui_type=["string", "null"],
    ),
    ExtraField(
        "rate_limit_key",
        "str",
        "Rate limit: shared key",
        "Name of the shared budget (scope 'shared'); every connection with the same key shares one quota. "
        "Default: this connection's id.",
        ui_type=["string", "null"],
    ),
    ExtraField(
        "redis_conn_id",
        "str",
        "Rate limit: Redis connection",
        "Id of an Airflow 'redis' connection holding shared budgets (scope 'shared'), e.g. a database of "
        f"your Celery broker's Redis. Default: {defaults.REDIS_CONN_ID}.",
        ui_type=["string", "null"],
        ui_default=defaults.REDIS_CONN_ID,
    ),
    ExtraField(
        "allowed_origins",
        "origins",
        "Allowed origins",
        "Other origins that may receive the API token, for APIs spanning hosts, e.g. "
        '["https://files.example.com"]. Empty = only the Base URL\'s origin; a request elsewhere (an '
        "absolute endpoint, a next-page link, a redirect) is sent without credentials.",
        ui_type=["string", "null"],
    ),
    ExtraField(
        "oauth2_url",
        "secure_url",
        "OAuth2: token URL",
        "auth_type oauth2_client_credentials (required there): the authorization server's token endpoint, "
        "e.g. https://login.example.com/oauth2/token. https only (http on localhost for tests); the client "
        "secret is sent there and nowhere else.",
        ui_type=["string", "null"],
    ),
    ExtraField(
        "oauth2_scope",
        "str",
        "OAuth2: scope",
        "auth_type oauth2_client_credentials: space-separated scopes to ask for, e.g. 'read:items'. "
        "Empty = the server's default.",
        ui_type=["string", "null"],
    ),
    ExtraField(
        "oauth2_audience",
        "str",
        "OAuth2: audience",
        "auth_type oauth2_client_credentials: the 'audience' parameter some servers need (Auth0, Okta), "
        "e.g. https://api.example.com. Empty = none sent.",
        ui_type=["string", "null"],
    ),
    ExtraField(
        "oauth2_client_auth",
        "choice",
        "OAuth2: client authentication",
        "auth_type oauth2_client_credentials: how the client id and secret go to the token URL: "
        "'client_secret_basic' (default: HTTP Basic) or 'client_secret_post' (in the form body).",
        choices=defaults.OAUTH2_TOKEN_AUTH_METHODS,
        ui_type=["string", "null"],
        ui_default=defaults.OAUTH2_TOKEN_AUTH_METHOD,
    ),
    ExtraField(
        "oauth2_params",
        "params",
        "OAuth2: extra token parameters (JSON)",
        "auth_type oauth2_client_credentials: JSON object of other form parameters of the token request, "
        'e.g. {"resource": "https://api.example.com"}.',
        ui_type=["string", "null"],
    ),
)

_BY_NAME = {f.name: f for f in EXTRA_FIELDS}


def field_named(name: str) -> ExtraField:
    """The row for ``name``; :class:`ExtraFieldError` with a suggestion when there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ExtraFieldError(_unknown(name)) from None


def check_override(name: str, value: Any) -> tuple[bool, Any]:
    """A task's override of extra ``name``: ``(applies, parsed value)``. Not given (the engine's
    ``NOT_GIVEN``) does not apply; ``None`` applies (as "off") only where the row can be off. Checked by the
    row's own rules, named "operator argument".

    :raises BulkFetchConfigError: for an unknown name, a row a task may not override, or a bad value.
    """
    from airflow_provider_bulk_uploader.engine.spec import NOT_GIVEN
    from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

    if value is NOT_GIVEN:
        return False, None
    try:
        row = field_named(name)
        if not row.overridable:
            raise ExtraFieldError(f"operator argument {name!r} cannot override the connection")
        if value is None and not row.can_be_off:
            return False, None
        return True, parse_value(row, value, "operator argument")
    except ExtraFieldError as exc:
        raise BulkFetchConfigError(str(exc)) from None


def conn_fields() -> dict[str, Any]:
    """``conn-fields`` for ``get_provider_info()``: one entry per row, in table order."""
    return {f.name: f.ui() for f in EXTRA_FIELDS}


#: Names other tools (dlt, the OAuth2 RFCs) use, and where the value goes here.
_KNOWN_AS = {
    "token_url": "`oauth2_url`",
    "scope": "`oauth2_scope`",
    "audience": "`oauth2_audience`",
    "token_auth_method": "`oauth2_client_auth`",
    "token_params": "`oauth2_params`",
    "client_id": "the Login field",
    "client_secret": "the Password field",
}


def _unknown(key: str) -> str:
    name = key.removeprefix(LEGACY_PREFIX)
    close = difflib.get_close_matches(name, list(_BY_NAME), n=1, cutoff=0.6)
    hint = f"did you mean `{close[0]}`? " if close else ""
    if name in _KNOWN_AS:
        hint = f"did you mean {_KNOWN_AS[name]}? "
    return f"unknown extra field {key!r}: {hint}Known fields: {', '.join(_BY_NAME)}"


def _is_airflow_key(key: str) -> bool:
    """Keys Airflow's own forms may leave in the extras: another connection type's ``extra__<type>__*``
    (kept when a connection's type was changed in the UI)."""
    return key.startswith("extra__") and not key.startswith(LEGACY_PREFIX) and key.count("__") >= 2


def parse_extras(extras: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Every row's value from ``extras`` (``extra__bulk_fetch__<name>`` accepted too), validated, with the
    row's default when absent or empty. Unknown keys are refused with the closest known name.

    :param source: how messages name the connection, e.g. ``"connection 'x'"``.
    """
    where = f"{source} field"
    values: dict[str, Any] = {}
    for key, value in extras.items():
        if not isinstance(key, str):
            raise ExtraFieldError(f"{source}: extra keys must be strings, got {key!r}")
        name = key.removeprefix(LEGACY_PREFIX)
        if name not in _BY_NAME:
            if _is_airflow_key(key):
                continue
            raise ExtraFieldError(f"{source}: {_unknown(key)}")
        if _empty(value) or (name in values and key.startswith(LEGACY_PREFIX)):
            continue  # the plain key wins over its legacy twin
        values[name] = value
    return {f.name: parse_value(f, values.get(f.name), where) for f in EXTRA_FIELDS}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_value(row: ExtraField, value: Any, where: str) -> Any:
    """``value`` for ``row`` validated and converted (``None``/empty -> the row's default)."""
    if _empty(value):
        return row.default
    return _PARSERS[row.kind](row, value, f"{where} {row.name!r}")


def _fail(what: str, expected: str, value: Any) -> ExtraFieldError:
    shown = repr(value) if len(repr(value)) <= 80 else f"{type(value).__name__} of {len(repr(value))} chars"
    return ExtraFieldError(f"{what} must be {expected}, got {shown}")


def _number(row: ExtraField, value: Any, what: str) -> float | int:
    whole = row.kind == "int"
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool):  # True is an int to Python, and would mean 1 request per period
        raise _fail(what, f"{kind}, not true/false", value)
    try:
        number = float(value) if isinstance(value, (str, int, float)) else math.nan
    except (ValueError, OverflowError):
        raise _fail(what, kind, value) from None
    if math.isnan(number) and not isinstance(value, (str, int, float)):
        raise _fail(what, kind, value)
    if not math.isfinite(number):
        raise _fail(what, f"a finite number{' of seconds' if not whole else ''}", value)
    if whole and not number.is_integer():
        raise _fail(what, kind, value)
    if row.minimum is not None and (number < row.minimum if whole else number <= row.minimum):
        positive = row.minimum == (1 if whole else 0)
        raise _fail(what, "> 0" if positive else f"{'>=' if whole else '>'} {row.minimum:g}", value)
    if row.maximum is not None and number > row.maximum:
        raise _fail(what, f"<= {row.maximum:g}", value)
    return int(number) if whole else number


def _bool(row: ExtraField, value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise _fail(what, "true or false", value)


def _str(row: ExtraField, value: Any, what: str) -> str:
    if not isinstance(value, str) or _CONTROL.search(value):
        raise _fail(what, "a string without control characters", value)
    return value.strip()


def _choice(row: ExtraField, value: Any, what: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in row.choices:
        raise _fail(what, f"one of {', '.join(row.choices)}", value)
    return str(text)


def _headers(row: ExtraField, value: Any, what: str) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ExtraFieldError(
                f"{what} must be a JSON object of header names to values; not valid JSON ({exc.msg})"
            ) from None
    if not isinstance(value, Mapping):
        raise ExtraFieldError(
            f"{what} must be a JSON object of header names to values, got {type(value).__name__}"
        )
    headers: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", key):
            raise ExtraFieldError(f"{what} has an invalid header name {key!r}")
        if item is None or isinstance(item, (dict, list)):
            raise ExtraFieldError(f"{what}[{key!r}] must be a string or a number, got {type(item).__name__}")
        text = json.dumps(item) if isinstance(item, bool) else str(item)
        if _CONTROL.search(text.replace("\t", "")):
            raise ExtraFieldError(f"{what}[{key!r}] must not contain control characters (CR, LF ...)")
        headers[key] = text
    return headers


def _origins(row: ExtraField, value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ExtraFieldError(f"{what} is not a valid JSON list ({exc.msg})") from None
        else:
            value = [v for v in re.split(r"[\s,]+", text) if v]
    if not isinstance(value, (list, tuple)):
        raise _fail(what, 'a list of URLs like ["https://files.example.com"]', value)
    origins = []
    for index, item in enumerate(value):
        try:
            origins.append(require_http_url(f"{what}[{index}]", item).rstrip("/"))
        except (TypeError, ValueError) as exc:
            raise ExtraFieldError(str(exc)) from None
    return tuple(origins)


def _path(row: ExtraField, value: Any, what: str) -> str:
    text = _str(row, value, what)
    if "://" in text or text.startswith("//"):
        raise _fail(what, "a path relative to the Base URL like /health (not another URL)", value)
    return text


def _secure_url(row: ExtraField, value: Any, what: str) -> str:
    text = _str(row, value, what)
    try:
        return require_https_url(what, text)
    except (TypeError, ValueError) as exc:
        raise ExtraFieldError(str(exc)) from None


#: Token-request parameters ``oauth2_params`` may not set.
_OAUTH2_RESERVED = frozenset({"grant_type", "client_id", "client_secret", "scope", "audience"})


def _params(row: ExtraField, value: Any, what: str) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ExtraFieldError(
                f"{what} must be a JSON object of parameter names to values; not valid JSON ({exc.msg})"
            ) from None
    if not isinstance(value, Mapping):
        raise ExtraFieldError(
            f"{what} must be a JSON object of parameter names to values, got {type(value).__name__}"
        )
    params: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or _CONTROL.search(key):
            raise ExtraFieldError(f"{what} has an invalid parameter name {key!r}")
        if key in _OAUTH2_RESERVED:
            raise ExtraFieldError(
                f"{what} must not set {key!r}: the engine sets it (the scope and the audience have fields "
                "of their own, the client id and secret are Login and Password)"
            )
        if item is None or isinstance(item, (dict, list)):
            raise ExtraFieldError(f"{what}[{key!r}] must be a string or a number, got {type(item).__name__}")
        text = json.dumps(item) if isinstance(item, bool) else str(item)
        if _CONTROL.search(text):
            raise ExtraFieldError(f"{what}[{key!r}] must not contain control characters (CR, LF ...)")
        params[key] = text
    return params


_PARSERS: dict[str, Callable[[ExtraField, Any, str], Any]] = {
    "int": _number,
    "float": _number,
    "bool": _bool,
    "str": _str,
    "choice": _choice,
    "headers": _headers,
    "origins": _origins,
    "path": _path,
    "secure_url": _secure_url,
    "params": _params,
}
