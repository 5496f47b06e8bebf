"""Odd but valid responses, the same on both backends: a 204 or empty body, a redirect without Location."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.errors import InvalidJSONError
from airflow_provider_bulk_uploader.engine.responses import decode_json_response
from tests.support.retry import fast_policy

from .conftest import BACKENDS

pytestmark = pytest.mark.integration


def test_an_empty_2xx_body_decodes_to_none():
    assert decode_json_response(204, lambda name: None, b"", "http://h/x") is None
    assert decode_json_response(200, lambda name: None, b"", "http://h/x") is None
    assert decode_json_response(200, lambda name: None, b"[1]", "http://h/x") == [1]


# what only the standard library's parser accepts, or where a fast parser could differ from it
ODD_BODIES = [
    b'{"a": 1, "a": 2}',  # a repeated key: the last one wins
    b"123456789012345678901234567890",  # beyond 64 bits
    b"-123456789012345678901234567890",
    b"1e400",  # overflows to inf
    b"[NaN, Infinity, -Infinity]",
    b'"\\ud800"',  # a lone surrogate
    "\ufeff{}".encode(),  # a UTF-8 BOM
    '{"x": [1]}'.encode("utf-16"),
    '{"x": "\u00e9"}'.encode("utf-32"),
    b"  [1, 2.5, null, true]  ",
    b"1.0000000000000000001",
    b'{"k": 0.1, "s": "\\u00e9\\n"}',
]


@pytest.mark.parametrize("body", ODD_BODIES)
def test_a_body_parses_exactly_as_json_loads_parses_it(body):
    """The fast parser (msgspec) falls back to ``json.loads`` where it refuses: same value, same type."""
    expected = json.loads(body)
    parsed = decode_json_response(200, lambda name: None, body, "http://h/x")
    assert repr(parsed) == repr(expected)


def test_an_invalid_body_still_fails_as_invalid_json():
    with pytest.raises(InvalidJSONError):
        decode_json_response(200, lambda name: None, b"{not json", "http://h/x")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_204_is_a_success_whose_record_is_none(demo, backend):
    store = ListStore()
    report = await UploadedData(store, url_maker=[f"{demo.url}/status/204"], http_backend=backend).run()
    assert (report.succeeded, report.failed, report.attempts) == (1, 0, 1)
    assert store.saved_data() == [None]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_redirect_without_location_is_a_failure_with_its_status_not_retried(demo, backend):
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[f"{demo.url}/status/302"], retry_policy=fast_policy(3), http_backend=backend
    ).run()
    assert report.failed == 1 and store.saved_data() == []
    (failure,) = report.failures
    assert failure.status == 302 and "HTTP 302" in failure.error
    # a user policy retries what its predicate says: the default predicate does not retry a 3xx
    assert demo.stats.total == 1 and failure.attempts == 1
