"""Credentials go only to the origins a run allows (``credential_origins``), on both backends: a request to
another origin — an absolute URL, a next-page link — is sent without them and the log says so once. Also:
both backends follow the same number of redirects and agree on content encodings (issue 8, points 3, 6)."""

from __future__ import annotations

import base64
import gzip
import json
import logging
from urllib.parse import quote

import pytest
from aiohttp import web

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine import defaults
from tests.support.retry import fast_policy

from .conftest import AUTH_MODES, BACKENDS, credential_seen, make_auth, secret

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_a_url_on_another_origin_gets_no_credentials(make_demo, caplog, mode, backend):
    token = secret(mode)
    home = make_demo(token=token, auth=mode)
    other = make_demo()  # another port = another origin; records what it receives
    caplog.set_level(logging.WARNING, logger="airflow_provider_bulk_uploader")
    urls = [f"{home.url}/items/1", f"{other.url}/items/2", f"{other.url}/items/3"]
    report = await UploadedData(
        ListStore(), url_maker=urls, http_backend=backend, credential_origins=[home.url]
    ).run(auth=make_auth(mode, token))
    assert report.failed == 0, report.failures
    assert credential_seen(home.requests[0], mode, token)
    assert len(other.requests) == 2
    for leaked in other.requests:
        assert not credential_seen(leaked, mode, token), (leaked.headers, leaked.query)
        assert "Authorization" not in leaked.headers and "X-API-Key" not in leaked.headers
    warnings = [r.getMessage() for r in caplog.records if "credentials NOT sent" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once per origin, not once per request
    assert other.url.rsplit(":", 1)[1] in warnings[0] and token not in warnings[0]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_allowed_second_origin_gets_credentials(make_demo, backend):
    token = secret("two")
    home, files = make_demo(token=token, auth="header"), make_demo(token=token, auth="header")
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{home.url}/items/1", f"{files.url}/items/2"],
        http_backend=backend,
        credential_origins=[home.url, f"{files.url}/any/path"],  # only the origin counts
    ).run(auth=make_auth("header", token))
    assert report.failed == 0, report.failures
    assert credential_seen(files.requests[0], "header", token)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_redirect_from_a_foreign_origin_back_home_gets_no_credentials(make_demo, backend):
    token = secret("back")
    home, other = make_demo(token=token, auth="query"), make_demo()
    target = quote(f"{home.url}/items/5", safe="")
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{other.url}/redirect?to={target}"],
        http_backend=backend,
        credential_origins=[home.url],
        retry_policy=fast_policy(1),
    ).run(auth=make_auth("query", token))
    # the chain started outside the scope: no hop carries the token (home answers 401/403)
    assert report.failed == 1 and report.failures[0].status in (401, 403)
    assert not any(credential_seen(r, "query", token) for r in [*home.requests, *other.requests])


def _chain(api_url: str, hops: int) -> str:
    url = f"{api_url}/items/7"
    for _ in range(hops):
        url = f"{api_url}/redirect?to={quote(url, safe='')}"
    return url


@pytest.mark.parametrize("backend", BACKENDS)
async def test_both_backends_follow_the_same_number_of_redirects(demo, backend):
    limit = defaults.MAX_REDIRECTS
    ok = await UploadedData(ListStore(), url_maker=[_chain(demo.url, limit)], http_backend=backend).run()
    assert ok.succeeded == 1, ok.failures
    too_many = await UploadedData(
        ListStore(),
        url_maker=[_chain(demo.url, limit + 1)],
        http_backend=backend,
        retry_policy=fast_policy(1),
    ).run()
    assert too_many.failed == 1 and "redirect" in too_many.failures[0].error.lower()


@pytest.fixture
async def encoding_server():
    """``/enc/<name>``: a JSON body with ``Content-Encoding: <name>`` (``br`` is sent undecodable, as a
    server that ignores Accept-Encoding would); ``/accept``: echoes the request's Accept-Encoding."""
    body = json.dumps({"ok": True}).encode()

    async def enc(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        payload = gzip.compress(body) if name == "gzip" else base64.b64encode(body)
        return web.Response(
            body=payload, headers={"Content-Type": "application/json", "Content-Encoding": name}
        )

    async def accept(request: web.Request) -> web.Response:
        return web.json_response({"accept": request.headers.get("Accept-Encoding")})

    app = web.Application()
    app.router.add_get("/enc/{name}", enc)
    app.router.add_get("/accept", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_both_backends_offer_and_decode_the_same_encodings(encoding_server, backend):
    store = ListStore()
    report = await UploadedData(
        store,
        url_maker=[f"{encoding_server}/accept", f"{encoding_server}/enc/gzip", f"{encoding_server}/enc/br"],
        http_backend=backend,
        retry_policy=fast_policy(1),
    ).run()
    data = store.saved_data()
    assert {"accept": defaults.ACCEPT_ENCODING} in data and {"ok": True} in data
    assert report.failed == 1
    failure = report.failures[0]
    assert failure.url.endswith("/enc/br") and "Content-Encoding 'br'" in failure.error, failure.error
