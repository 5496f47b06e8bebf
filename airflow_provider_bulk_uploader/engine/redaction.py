"""Keep credentials out of logs, exception messages, reports and ``repr()``.

Two mechanisms, both cheap enough to run on every log record:

* a registry of secret *values* (tokens, passwords) — every built-in :mod:`auth` object registers its
  secret on construction — replaced by ``***`` wherever they appear in text, in any letter case and in the
  encoded forms a library may print: ``repr()``-escaped (a token with CR/LF or quotes), ``bytes`` repr,
  JSON-escaped, URL-encoded;
* a list of sensitive query-parameter *names* (``api_key``, ``token`` …, plus every name a
  :class:`~.auth.QueryParamsAuth` uses) whose values are replaced in URLs.

Log records are redacted where they are *made*, not where a library's logger happens to sit: as soon as a
secret is registered, a :func:`logging.setLogRecordFactory` wrapper redacts every record any logger creates
(``httpcore.http11``, ``aiohttp.client``, ``tenacity``, the root logger …) before any filter or handler sees
it — the rendered message (``msg % args``) and the formatted traceback. Records of disabled levels are
never created, so DEBUG off costs nothing; an enabled record costs one ``getMessage()`` and one regex scan.
:class:`RedactingFilter` does the same as a filter, for handlers that receive records made elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "ensure_log_redaction",
    "redact",
    "redact_record",
    "redact_url",
    "register_secret",
    "register_sensitive_param",
    "secret_pattern",
    "secret_variants",
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
_factory_installed = False


def secret_variants(value: str) -> set[str]:
    """``value`` and the encoded forms in which a library may print it whole: ``repr()``-escaped (str and
    bytes), JSON-escaped, URL-encoded (``%20`` and ``+`` for a space). The redaction pattern matches more
    (any mix of these per character, any letter case: see :func:`secret_pattern`)."""
    variants = {value, repr(value)[1:-1], json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    with contextlib.suppress(UnicodeEncodeError):  # lone surrogates have no bytes form
        variants.add(repr(value.encode())[2:-1])
    return {v for v in variants if len(v) >= _MIN_SECRET_LENGTH}


def _char_forms(ch: str) -> str:
    """A regex for one character of a secret: the character itself or any of its escaped/encoded forms
    (percent-encoded once or twice, ``repr``/``bytes``/JSON escapes, ``+`` for a space)."""
    if ch.isascii() and ch.isalnum():
        return re.escape(ch)
    once = quote(ch, safe="")
    forms = {ch, once, once.replace("%", "%25"), repr(ch)[1:-1], json.dumps(ch)[1:-1]}
    with contextlib.suppress(UnicodeEncodeError):
        forms.add(repr(ch.encode())[2:-1])
    if ch == " ":
        forms.add("+")
    return "(?:" + "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)) + ")"


def secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex matching any of ``secrets`` in any mix of its encoded forms, longest
    secret first (so a secret that contains another is hidden whole); ``None`` when there is none."""
    usable = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
    if not usable:
        return None
    return re.compile("|".join("".join(_char_forms(c) for c in s) for s in usable), re.IGNORECASE)


def register_secret(value: str | None) -> None:
    """Hide ``value`` (and its :func:`secret_variants`, in any letter case) from every string this module
    redacts from now on, and from every log record made in this process (see the module docstring)."""
    global _pattern
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _SECRETS:
            return
        _SECRETS.add(value)
        _pattern = secret_pattern(_SECRETS)
    _install_record_factory()


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


def redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: its rendered message (``msg % args``, so secrets in ``args`` and their
    ``%r`` forms are covered), its traceback and its stack info."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is the caller's bug; still redact what can be seen
        message = str(record.msg)
        record.args = ()
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        cleaned = redact(text)
        if cleaned != text:  # formatters use exc_text as is; without exc_info they cannot re-render it
            record.exc_text, record.exc_info = cleaned, None
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the record (see :func:`redact_record`); it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _install_record_factory() -> None:
    """Wrap the process's log record factory (once) so that every record is redacted when it is made."""
    global _factory_installed
    with _lock:
        if _factory_installed:
            return
        _factory_installed = True
        previous = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    redacting_factory.redacts_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)


def ensure_log_redaction() -> None:
    """Re-install the redacting record factory if something replaced it (call after reconfiguring
    logging with a custom record factory); a no-op while it is in place or before any secret exists."""
    global _factory_installed
    if _pattern is None:
        return
    if not getattr(logging.getLogRecordFactory(), "redacts_secrets", False):
        _factory_installed = False
        _install_record_factory()
