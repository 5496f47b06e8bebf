"""Connection fields x bad values: every row fails at load (``get_settings()``) with a
``BulkFetchConfigError`` (not retried by Airflow) that names the connection and the field — and never the
token, in any letter case, even when the token was pasted into the wrong field (issue 8 points 2 and 4,
issue 14 points 1, 2 and 4)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError, BulkFetchHook
from airflow_provider_bulk_uploader.utils.extras import EXTRA_FIELDS

CONN_ID = "bad_conn_under_test"
TOKEN = "Pasted-Secret-Tok-4f2a9c"
BASE = "http://api.test/v1"


@pytest.fixture
def set_conn(set_conn: Callable[..., None]) -> Callable[..., None]:
    """The shared ``set_conn`` on :data:`CONN_ID`, with :data:`BASE` and :data:`TOKEN` unless a row says."""
    return functools.partial(set_conn, CONN_ID, host=BASE, password=TOKEN)


def _no_token(text: str) -> None:
    for variant in (TOKEN, TOKEN.lower(), TOKEN.upper(), TOKEN.replace("-", "%2D")):
        assert variant not in text, text


ROWS: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, connection fields, field the message must name, text it must contain)
    (
        "token in rate_limit_requests",
        {"extra": {"rate_limit_requests": TOKEN}},
        "rate_limit_requests",
        "whole",
    ),
    ("token in auth_type", {"extra": {"auth_type": TOKEN}}, "auth_type", "must be one of header"),
    ("token in auth_type, lower", {"extra": {"auth_type": TOKEN.lower()}}, "auth_type", "must be one of"),
    ("token in timeout", {"extra": {"timeout_seconds": TOKEN}}, "timeout_seconds", "must be a number"),
    ("token in verify_ssl", {"extra": {"verify_ssl": TOKEN}}, "verify_ssl", "true or false"),
    ("token in headers", {"extra": {"headers": TOKEN}}, "headers", "not valid JSON"),
    ("token in allowed_origins", {"extra": {"allowed_origins": TOKEN}}, "allowed_origins", "http(s) URL"),
    ("token in test_path", {"extra": {"test_path": f"https://{TOKEN}/x"}}, "test_path", "relative"),
    ("token as an unknown key", {"extra": {TOKEN: 1}}, "unknown extra field", "Known fields"),
    ("token in host", {"host": f"ftp://{TOKEN}.test/"}, "host", "http:// or https://"),
    ("ftp host", {"host": "ftp://files.test/x"}, "host", "http:// or https:// URL"),
    ("file host", {"host": "file:///etc/passwd"}, "host", "http:// or https:// URL"),
    ("http:// without host", {"host": "http://"}, "host", "with a host"),
    ("schema ftp", {"host": "files.test", "schema": "ftp"}, "host", "http:// or https://"),
    ("timeout inf", {"extra": {"timeout_seconds": "inf"}}, "timeout_seconds", "finite"),
    ("timeout nan", {"extra": {"timeout_seconds": "nan"}}, "timeout_seconds", "finite"),
    ("timeout 1e300", {"extra": {"timeout_seconds": 1e300}}, "timeout_seconds", "<= 86400"),
    ("timeout 0", {"extra": {"timeout_seconds": 0}}, "timeout_seconds", "> 0"),
    (
        "period inf",
        {"extra": {"rate_limit_period_seconds": "Infinity"}},
        "rate_limit_period_seconds",
        "finite",
    ),
    ("period 1e300", {"extra": {"rate_limit_period_seconds": "1e300"}}, "rate_limit_period_seconds", "<="),
    ("period -1", {"extra": {"rate_limit_period_seconds": -1}}, "rate_limit_period_seconds", "> 0"),
    ("rate true", {"extra": {"rate_limit_requests": True}}, "rate_limit_requests", "not true/false"),
    ("rate 1.5", {"extra": {"rate_limit_requests": 1.5}}, "rate_limit_requests", "whole number"),
    ("rate 0", {"extra": {"rate_limit_requests": 0}}, "rate_limit_requests", "> 0"),
    ("rate 1e300", {"extra": {"rate_limit_requests": 1e300}}, "rate_limit_requests", "<="),
    ("rate list", {"extra": {"rate_limit_requests": [10]}}, "rate_limit_requests", "whole number"),
    ("concurrency 10**9", {"extra": {"max_concurrency": 10**9}}, "max_concurrency", "<= 4096"),
    ("concurrency false", {"extra": {"max_concurrency": False}}, "max_concurrency", "not true/false"),
    ("headers None value", {"extra": {"headers": {"X-A": None}}}, "headers", "must be a string or a number"),
    ("headers CRLF", {"extra": {"headers": {"X-A": "a\r\nB: c"}}}, "headers", "control characters"),
    ("headers bad name", {"extra": {"headers": {"X A": "v"}}}, "headers", "invalid header name"),
    ("headers list", {"extra": {"headers": "[1]"}}, "headers", "got list"),
    ("auth_name CRLF", {"extra": {"auth_name": "X-Key\r\n"}}, "auth_name", "control characters"),
    ("query without name", {"extra": {"auth_type": "query"}}, "auth_name", "required"),
    ("origins not URLs", {"extra": {"allowed_origins": ["files.test"]}}, "allowed_origins", "http(s) URL"),
    ("origins a number", {"extra": {"allowed_origins": 5}}, "allowed_origins", "a list of URLs"),
    ("extra not JSON", {"extra": '{"rate_limit_requests": 10,'}, "'extra'", "not valid JSON"),
    ("extra a list", {"extra": "[1, 2]"}, "'extra'", "must be a JSON object"),
    (
        "typo",
        {"extra": {"rate_limt_requests": 10}},
        "rate_limt_requests",
        "did you mean `rate_limit_requests`?",
    ),
]


@pytest.mark.parametrize(("fields", "field", "text"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_field_fails_at_load_naming_connection_and_field(set_conn, fields, field, text):
    set_conn(**fields)
    with pytest.raises(BulkFetchConfigError) as info:
        BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()
    assert isinstance(info.value, AirflowFailException)  # Airflow does not retry it
    message = str(info.value)
    assert f"connection {CONN_ID!r}" in message, message
    assert field in message and text in message, message
    _no_token(message)


@pytest.mark.parametrize(("fields", "field", "text"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_the_test_button_reports_the_same_without_id_or_token(set_conn, fields, field, text):
    set_conn(**fields)
    ok, message = BulkFetchHook(bulk_fetch_conn_id=CONN_ID).test_connection()
    assert not ok
    assert "this connection" in message and CONN_ID not in message, message
    assert text in message, message
    _no_token(message)


@pytest.mark.parametrize("row", EXTRA_FIELDS, ids=lambda r: r.name)
def test_a_typo_of_each_known_key_suggests_it(set_conn, row):
    typo = row.name[:-2] + row.name[-1]  # drop the second-to-last letter
    set_conn(extra={typo: "x"})
    with pytest.raises(BulkFetchConfigError, match=f"did you mean `{row.name}`") as info:
        BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()
    assert repr(typo) in str(info.value)


def test_an_unknown_key_without_a_close_match_lists_the_known_ones(set_conn):
    set_conn(extra={"frobnicate": 1})
    with pytest.raises(
        BulkFetchConfigError, match="unknown extra field 'frobnicate': Known fields: auth_type"
    ):
        BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()


def test_keys_airflow_writes_are_accepted(set_conn):
    set_conn(
        extra={
            "extra__bulk_fetch__rate_limit_requests": "5",  # legacy prefixed form of our own field
            "extra__http__timeout": "3",  # left over from another connection type in the UI
            "timeout_seconds": None,  # an empty field the form saved
            "test_path": "",
        }
    )
    s = BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()
    assert s.rate_limit_requests == 5 and s.timeout_seconds == 30.0 and s.test_path is None


def test_a_legacy_prefixed_typo_is_refused(set_conn):
    set_conn(extra={"extra__bulk_fetch__rate_limt_requests": "5"})
    with pytest.raises(BulkFetchConfigError, match="did you mean `rate_limit_requests`"):
        BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()


def test_allowed_origins_forms(set_conn):
    set_conn(extra={"allowed_origins": "https://files.test, https://cdn.test:8443/x"})
    s = BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()
    assert s.allowed_origins == ("https://files.test", "https://cdn.test:8443/x")
    assert s.credential_origins == [BASE, "https://files.test", "https://cdn.test:8443/x"]
    set_conn(extra={"allowed_origins": '["https://files.test"]'})
    assert BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings().allowed_origins == ("https://files.test",)


@pytest.mark.parametrize(
    ("override", "value", "text"),
    [
        ("timeout_seconds", float("inf"), "operator argument 'timeout_seconds' must be a finite number"),
        ("rate_limit_requests", True, "operator argument 'rate_limit_requests' must be a whole number"),
        ("max_concurrency", 10**9, "operator argument 'max_concurrency' must be <= 4096"),
        ("rate_limit_period_seconds", 0, "operator argument 'rate_limit_period_seconds' must be > 0"),
        ("verify_ssl", False, "operator argument 'verify_ssl' cannot override the connection"),
        ("rate_limt_requests", 5, "did you mean `rate_limit_requests`"),
    ],
)
def test_overrides_use_the_same_rows(set_conn, override, value, text):
    set_conn()
    settings = BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()
    with pytest.raises(BulkFetchConfigError) as info:
        settings.with_overrides(**{override: value})
    assert text in str(info.value)


def test_overrides_apply_and_keep_the_other_options(set_conn):
    set_conn(extra={"rate_limit_requests": 10, "allowed_origins": ["https://files.test"]})
    settings = BulkFetchHook(bulk_fetch_conn_id=CONN_ID).get_settings()
    changed = settings.with_overrides(rate_limit_requests="3", timeout_seconds=2, max_concurrency=None)
    assert (changed.rate_limit_requests, changed.timeout_seconds, changed.max_concurrency) == (3, 2.0, 64)
    assert changed.allowed_origins == ("https://files.test",) and changed.option("rate_limit_requests") == 3
