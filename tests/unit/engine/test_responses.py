"""Odd but valid responses, the same on both backends: a 204 or empty body, a redirect without Location."""

from __future__ import annotations

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.responses import decode_json_response
from tests.support.retry import fast_policy

from .conftest import BACKENDS

pytestmark = pytest.mark.integration


def test_an_empty_2xx_body_decodes_to_none():
    assert decode_json_response(204, lambda name: None, b"", "http://h/x") is None
    assert decode_json_response(200, lambda name: None, b"", "http://h/x") is None
    assert decode_json_response(200, lambda name: None, b"[1]", "http://h/x") == [1]


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
