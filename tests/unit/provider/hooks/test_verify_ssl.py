"""The connection's ``verify_ssl`` extra against a loopback HTTPS server signed by a private CA: on by default
(a clear certificate error, in fetches and in the UI's Test button), ``false`` lets the fetch through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_bulk_uploader import ListStore
from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook
from tests.support.tls import Certificates, TLSServer, make_certificates, running_tls_server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSServer]:
    certs: Certificates = make_certificates(tmp_path_factory.mktemp("tls"))
    with running_tls_server(certs) as server:
        yield server


NO_AUTH = {"auth_type": "none"}


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
def test_verify_ssl_default_on_then_off(tls_server, set_conn, backend):
    url = f"{tls_server.url}/items/1"
    set_conn("tls", host=tls_server.url, extra=NO_AUTH)
    report = BulkFetchHook("tls").fetch([url], ListStore(), retry_max_attempts=1, http_backend=backend)
    assert report.failed == 1 and "certificate verify failed" in report.failures[0].error.lower()

    set_conn("tls", host=tls_server.url, extra={**NO_AUTH, "verify_ssl": "false"})
    store = ListStore()
    report = BulkFetchHook("tls").fetch([url], store, http_backend=backend)
    assert report.succeeded == 1 and store.saved_data() == [{"id": 1}]


def test_the_test_button_reports_the_certificate_error_and_passes_without_verification(tls_server, set_conn):
    set_conn("tls", host=tls_server.url, extra={**NO_AUTH, "test_path": "/items/2"})
    ok, message = BulkFetchHook("tls").test_connection()
    assert not ok and "certificate verify failed" in message.lower()
    set_conn("tls", host=tls_server.url, extra={**NO_AUTH, "test_path": "/items/2", "verify_ssl": False})
    ok, message = BulkFetchHook("tls").test_connection()
    assert ok and "HTTP 200" in message
