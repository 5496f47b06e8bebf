"""Redaction does not depend on the logger a library picks: every record made in the process is redacted
when it is made — child loggers (``httpcore.http11``), ``args`` rendered with ``%r``, bytes reprs,
tracebacks, any letter case (issue 8, points 1 and 6)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_bulk_uploader import register_secret
from airflow_provider_bulk_uploader.engine.redaction import ensure_log_redaction, secret_variants

from .conftest import secret


@pytest.fixture
def root_output() -> Iterator[io.StringIO]:
    """Everything that reaches a plain handler on the root logger, at DEBUG."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.mark.parametrize(
    "name", ["httpcore.http11", "httpcore.connection", "httpx", "aiohttp.client", "tenacity", "", "any.lib"]
)
def test_records_of_any_logger_are_redacted(root_output, name):
    token = secret("anylog")
    register_secret(token)
    log = logging.getLogger(name)
    log.setLevel(logging.DEBUG)
    log.debug("plain %s", token)
    log.debug("repr %r and bytes %r", token, token.encode())
    log.debug(f"formatted {[(b'location', f'/x?key={token}'.encode())]}")
    log.debug("upper %s", token.upper())
    text = root_output.getvalue()
    assert token not in text and token.upper() not in text and token.lower() not in text
    assert text.count("***") >= 5


def test_escaped_and_encoded_forms_are_redacted(root_output):
    token = secret("we'ird\\é ")  # a quote, a backslash, non-ASCII and a space: escaped by repr/URL/JSON
    register_secret(token)
    log = logging.getLogger("httpcore.http11")
    log.debug("str %r", token)
    log.debug("bytes %r", token.encode())
    log.debug("url %s and %s", quote(token, safe=""), quote_plus(token))
    text = root_output.getvalue()
    for variant in secret_variants(token):
        assert variant not in text, variant
    assert text.count("***") == 4


def test_tracebacks_are_redacted(root_output):
    token = secret("trace")
    register_secret(token)
    try:
        raise RuntimeError(f"server said {token!r}")
    except RuntimeError:
        logging.getLogger("some.library").exception("failed")
    text = root_output.getvalue()
    assert "RuntimeError" in text and token not in text and "***" in text


def test_the_factory_is_reinstalled_after_a_replacement(root_output):
    token = secret("factory")
    register_secret(token)
    saved = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)  # e.g. a logging config that installs its own
    try:
        ensure_log_redaction()
        logging.getLogger("x").warning("t=%s", token)
    finally:
        logging.setLogRecordFactory(saved)
    assert token not in root_output.getvalue()
