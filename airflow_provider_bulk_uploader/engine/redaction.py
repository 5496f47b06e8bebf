"""Keep credentials out of logs, exception messages, reports and ``repr()``.

Two mechanisms, both cheap enough to run on every log record:

* a registry of secret *values* (tokens, passwords) — every built-in :mod:`auth` object registers its
  secret on construction — replaced by ``***`` wherever they appear in text;
* a list of sensitive query-parameter *names* (``api_key``, ``token`` …, plus every name a
  :class:`~.auth.QueryParamsAuth` uses) whose values are replaced in URLs.

:class:`RedactingFilter` applies both to log records; it is installed on the engine's logger and on
``httpx``'s (which logs full request URLs at INFO, query tokens included) as soon as a secret exists.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "redact",
    "redact_url",
    "register_secret",
    "register_sensitive_param",
]

REDACTED = "***"

#: Query parameter names whose values are always hidden (compared case-insensitively).
_SENSITIVE_PARAMS: set[str] = {
    "access_token",
    "api_key",
    "apikey",
    "api-key",
    "auth",
    "client_secret",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
    "token",
}
_SECRETS: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()
_MIN_SECRET_LENGTH = 3  # shorter values would blank out ordinary text
_FILTERED_LOGGERS = ("airflow_provider_bulk_uploader", "httpx", "httpcore", "aiohttp.client")
_filter_installed = False


def register_secret(value: str | None) -> None:
    """Hide ``value`` from every string this module redacts from now on (process-wide)."""
    global _pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _SECRETS:
            return
        _SECRETS.add(value)
        # longest first, so a secret that contains another is hidden whole
        alternatives = sorted(_SECRETS, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))
    _install_log_filter()


def register_sensitive_param(name: str) -> None:
    """Treat query parameter ``name`` as a credential in :func:`redact_url`."""
    _SENSITIVE_PARAMS.add(name.lower())


def redact(text: str) -> str:
    """Return ``text`` with every registered secret and sensitive query value replaced by ``***``."""
    if _pattern is not None:
        text = _pattern.sub(REDACTED, text)
    if "?" in text and "=" in text:
        text = _QUERY_VALUE.sub(_hide_query_value, text)
    return text


_QUERY_VALUE = re.compile(r"([?&;])([^=&#\s;]+)=([^&#\s;\"']*)")


def _hide_query_value(match: re.Match[str]) -> str:
    sep, name, value = match.groups()
    if name.lower() in _SENSITIVE_PARAMS and value:
        return f"{sep}{name}={REDACTED}"
    return match.group(0)


def redact_url(url: object) -> str:
    """``url`` as a string with userinfo passwords, sensitive query values and secrets hidden."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return redact(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SENSITIVE_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if k.lower() in _SENSITIVE_PARAMS else v) for k, v in pairs], safe="*"
            )
    if netloc is not parts.netloc or query is not parts.query:
        text = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return redact(text) if _pattern is not None else text


class RedactingFilter(logging.Filter):
    """A logging filter that renders the record's message and redacts it (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the caller's bug; leave the record alone
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def _install_log_filter() -> None:
    global _filter_installed
    if _filter_installed:
        return
    _filter_installed = True
    flt = RedactingFilter()
    for name in _FILTERED_LOGGERS:
        logging.getLogger(name).addFilter(flt)
