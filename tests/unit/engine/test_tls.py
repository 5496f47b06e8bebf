"""``verify_ssl`` on both backends against a loopback HTTPS server whose certificate a private CA signed.

Verification on (the default): the URL fails with a clear certificate error, not retried into success.
Verification off: it succeeds. A custom CA bundle: the engine has no CA argument; both backends trust the
bundle named by ``SSL_CERT_FILE`` when the process starts (aiohttp builds its default context at import),
so that is checked in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData
from tests.support.retry import fast_policy
from tests.support.tls import Certificates, TLSServer, make_certificates, running_tls_server

from .conftest import BACKENDS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certs: Certificates) -> Iterator[TLSServer]:
    with running_tls_server(certs) as server:
        yield server


@pytest.mark.parametrize("backend", BACKENDS)
async def test_verification_on_fails_with_a_certificate_error(tls_server, backend):
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[f"{tls_server.url}/items/1"], retry_policy=fast_policy(2), http_backend=backend
    ).run()
    assert report.failed == 1 and store.saved_data() == []
    (failure,) = report.failures
    assert failure.status is None and "certificate verify failed" in failure.error.lower(), failure.error
    assert tls_server.paths == []  # the handshake failed: no request reached the handler


@pytest.mark.parametrize("backend", BACKENDS)
async def test_verification_off_succeeds(tls_server, backend):
    store = ListStore()
    report = await UploadedData(
        store,
        url_maker=[f"{tls_server.url}/items/{i}" for i in range(3)],
        verify_ssl=False,
        http_backend=backend,
    ).run()
    assert report.succeeded == 3
    assert sorted(r["id"] for r in store.saved_data()) == [0, 1, 2]
    assert sorted(tls_server.paths) == ["/items/0", "/items/1", "/items/2"]


_CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from airflow_provider_bulk_uploader import ListStore, UploadedData, default_retry_policy
    url, backend = sys.argv[1], sys.argv[2]
    report = asyncio.run(UploadedData(
        ListStore(), url_maker=[url], retry_policy=default_retry_policy(1), http_backend=backend
    ).run())
    print(json.dumps({"succeeded": report.succeeded, "errors": [f.error for f in report.failures]}))
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_custom_ca_bundle_from_ssl_cert_file_is_trusted(tls_server, certs, backend):
    def child(**env: str) -> dict:
        base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, f"{tls_server.url}/items/7", backend],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        return json.loads(out.strip().splitlines()[-1])

    assert child(SSL_CERT_FILE=str(certs.ca)) == {"succeeded": 1, "errors": []}
    without = child()  # the same child without the bundle: the private CA is unknown
    assert without["succeeded"] == 0 and "certificate verify failed" in without["errors"][0].lower()
