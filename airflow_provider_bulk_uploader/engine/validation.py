"""Argument checks shared by the engine and the Airflow layer: one wording for every "bad argument" error,
naming the argument and the value it got."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

__all__ = [
    "has_http_host",
    "is_loopback_host",
    "require_bool",
    "require_headers",
    "require_http_url",
    "require_https_url",
    "require_int",
    "require_origins",
    "require_seconds",
    "require_text",
]

#: RFC 9110 token characters: what a header name may consist of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: no control character at all (tab included): what a credential or an identifier may not contain
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def require_text(name: str, value: object) -> str:
    """``value`` if it is a non-empty string without control characters (CR/LF would split a header);
    the error names ``name`` but never shows the value (it may be a secret)."""
    if not isinstance(value, str) or not value:
        shown = "''" if value == "" else type(value).__name__
        raise ValueError(f"{name} must be a non-empty string, got {shown}")
    if _ANY_CONTROL.search(value):
        raise ValueError(f"{name} must not contain control characters (CR, LF, tab, NUL ...)")
    return value


def require_int(
    name: str,
    value: object,
    minimum: int | None = None,
    *,
    maximum: int | None = None,
    error: type[Exception] | None = None,
) -> int:
    """Return ``value`` if it is an ``int`` (a ``bool`` is not) of at least ``minimum`` (at most ``maximum``).

    Otherwise raise ``error`` when given, else ``TypeError`` for a non-int and ``ValueError`` for one below
    ``minimum``; the message is ``"<name> must be an int >= <minimum>, got <value!r>"``.
    """
    bound = "" if minimum is None else f" >= {minimum}"
    if maximum is not None:
        bound += f"{',' if bound else ''} <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise (error or TypeError)(f"{name} must be an int{bound}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise (error or ValueError)(f"{name} must be an int{bound}, got {value!r}")
    return value


def require_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float if it is a finite number of seconds ``> 0`` (``>= 0`` with
    ``allow_zero``); ``TypeError`` for a non-number (a ``bool`` is not one), ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return seconds


def require_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool``: a string like ``"false"`` would be truthy, so it is refused."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return value


def require_headers(name: str, value: object) -> dict[str, str]:
    """Return ``value`` as a new ``dict`` if it maps non-empty header names to string values without
    CR/LF; the error names the header but never shows a value (it may be a credential)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of str to str, got {type(value).__name__}")
    headers: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _HEADER_NAME.fullmatch(key):
            raise ValueError(f"{name} has an invalid header name {key!r}")
        if not isinstance(item, str):
            raise TypeError(
                f"{name}[{key!r}] must be a string, got {type(item).__name__} "
                "(write numbers as strings; leave a header out rather than setting it to None)"
            )
        if _CONTROL.search(item):
            raise ValueError(f"{name}[{key!r}] must not contain control characters (CR, LF, NUL ...)")
        headers[key] = item
    return headers


def has_http_host(url: object) -> bool:
    """Fast check (a million URLs of a list are checked at construction): ``url`` is a ``str`` starting
    with ``http://`` or ``https://`` followed by at least one host character. Use
    :func:`require_http_url` for the full check and the error message."""
    if not isinstance(url, str):
        return False
    if url.startswith("https://"):
        start = 8
    elif url.startswith("http://"):
        start = 7
    else:
        return False
    return len(url) > start and url[start] not in "/?#:@"


def require_http_url(name: str, value: object) -> str:
    """Return ``value`` if it is an absolute ``http``/``https`` URL with a host (``"http://"`` is not);
    the message shows the URL redacted."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string URL, got {type(value).__name__}")
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme.lower() not in ("http", "https") or not host:
        from .redaction import redact_url

        raise ValueError(
            f"{name} must be an absolute http(s) URL with a host, like 'https://api.example.com/items', "
            f"got {redact_url(value)!r}"
        )
    return value


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a URL's hostname) is this machine: ``localhost`` or a loopback address."""
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_https_url(name: str, value: object) -> str:
    """Return ``value`` if it is an absolute ``https`` URL with a host and no user/password (``http`` only
    on loopback, for tests): where a secret is sent. The message shows the URL redacted."""
    url = require_http_url(name, value)
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{name} must not carry a user or password in the URL")
    if parts.scheme.lower() != "https" and not is_loopback_host(parts.hostname):
        from .redaction import redact_url

        raise ValueError(
            f"{name} must be an https:// URL (http:// only on loopback: localhost, 127.0.0.1, ::1), "
            f"got {redact_url(url)!r}"
        )
    return url


def require_origins(name: str, value: object) -> list[str] | None:
    """Return ``value`` as a list of http(s) URLs (only their origins matter) or ``None``."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of URLs like ['https://api.example.com'], got {value!r}")
    return [require_http_url(f"{name}[{i}]", v) for i, v in enumerate(value)]
