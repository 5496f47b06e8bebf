"""engine/transport.py: :class:`AiohttpTransport` on its own, against demo APIs on 127.0.0.1 (two ports, two
origins). Redirects are followed by hand with the credentials only on the original origin, at most
``max_redirects`` of them; a credential scope keeps them from other origins from the start; the proxy
variables are honoured; aiohttp's silent re-send of a dropped request is off; ``Accept-Encoding`` is the
default unless the caller sets one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.auth import CredentialScope
from airflow_provider_bulk_uploader.engine.errors import HTTPStatusError, TransportError
from airflow_provider_bulk_uploader.engine.transport import AiohttpTransport
from airflow_provider_bulk_uploader.testing import DemoAPI
from tests.support.net import closed_port

from .conftest import secret

pytestmark = pytest.mark.integration

TOKEN = secret("transport")


def redirect(api: DemoAPI, to: str) -> str:
    return f"{api.url}/redirect?to={quote(to, safe='')}"


def seen(api: DemoAPI, path: str) -> list[dict[str, Any]]:
    """What each request for ``path`` carried, as the server saw it: lower-cased headers and the query."""
    return [
        {**{k.lower(): v for k, v in r.headers.items()}, **{f"?{k}": v for k, v in r.query.items()}}
        for r in api.requests
        if r.path == path
    ]


def with_credentials(request: dict[str, Any]) -> bool:
    return request.get("x-api-key") == TOKEN or request.get("?api_key") == TOKEN


@pytest.fixture
def home(make_demo) -> DemoAPI:
    return make_demo()


@pytest.fixture
def other(make_demo) -> DemoAPI:
    return make_demo()  # another port: another origin


def transport(**kwargs: Any) -> AiohttpTransport:
    options: dict[str, Any] = {
        "max_connections": 4,
        "timeout": 5.0,
        "headers": {"X-Trace": "t1", "X-Session-Token": "extra-secret"},
        "credential_headers": {"X-API-Key": TOKEN},
        "credential_params": {"api_key": TOKEN},
    }
    return AiohttpTransport(**{**options, **kwargs})


@pytest.fixture
async def client() -> AsyncIterator[AiohttpTransport]:
    opened = transport()
    yield opened
    await opened.aclose()


# ---- redirects, credentials ------------------------------------------------------------------------------


async def test_a_plain_request_carries_the_credentials_and_the_extra_headers(client, home):
    assert (await client.get_json(f"{home.url}/items/1"))["id"] == 1
    (request,) = seen(home, "/items/1")
    assert with_credentials(request) and request["?api_key"] == TOKEN
    assert request["x-trace"] == "t1" and request["x-session-token"] == "extra-secret"


async def test_a_same_origin_redirect_keeps_every_credential(client, home):
    body = await client.get_json(redirect(home, f"{home.url}/items/2"))
    assert body["id"] == 2
    (hop,) = seen(home, "/redirect")
    (target,) = seen(home, "/items/2")
    assert with_credentials(hop)
    assert target["x-api-key"] == TOKEN and target["?api_key"] == TOKEN, "the query credential is re-added"


async def test_a_hop_to_another_origin_gets_no_credentials_and_no_credential_like_header(client, home, other):
    body = await client.get_json(redirect(home, f"{other.url}/items/3"))
    assert body["id"] == 3
    (foreign,) = seen(other, "/items/3")
    assert "x-api-key" not in foreign and "?api_key" not in foreign
    assert "x-session-token" not in foreign, "an extra header that looks like a credential stays home too"
    assert foreign["x-trace"] == "t1", "plain extra headers go everywhere"


async def test_back_on_the_original_origin_after_a_foreign_hop_the_credentials_return(client, home, other):
    """They were issued for ``home``: ``other`` never sees them, ``home`` does again."""
    body = await client.get_json(redirect(home, redirect(other, f"{home.url}/items/4")))
    assert body["id"] == 4
    assert not with_credentials(seen(other, "/redirect")[0])
    assert with_credentials(seen(home, "/items/4")[0])


@pytest.mark.parametrize(("hops", "ok"), [(2, True), (3, False)])
async def test_at_most_max_redirects_are_followed(home, hops, ok):
    url = f"{home.url}/items/5"
    for _ in range(hops):
        url = redirect(home, url)
    client = transport(max_redirects=2)
    try:
        if ok:
            assert (await client.get_json(url))["id"] == 5
        else:
            with pytest.raises(TransportError, match="more than 2 redirects"):
                await client.get_json(url)
    finally:
        await client.aclose()
    assert len(seen(home, "/redirect")) == min(hops, 3)
    assert len(seen(home, "/items/5")) == (1 if ok else 0), "nothing sent past the limit"


# ---- pages and the credential scope ----------------------------------------------------------------------


async def test_a_page_gets_credentials_only_on_its_streams_origin_and_gives_its_headers(client, home, other):
    body, headers = await client.get_page(f"{home.url}/items/6", f"{home.url}/pages/start")
    assert body["id"] == 6 and headers["Content-Type"].startswith("application/json")
    await client.get_page(f"{other.url}/items/7", f"{home.url}/pages/start")  # a next link elsewhere
    await client.get_page(f"{home.url}/items/8", f"{other.url}/pages/start")  # a stream begun elsewhere
    assert with_credentials(seen(home, "/items/6")[0])
    assert not with_credentials(seen(other, "/items/7")[0])
    assert not with_credentials(seen(home, "/items/8")[0])


async def test_a_scope_keeps_the_credentials_from_other_origins_from_the_start(home, other):
    scoped = transport(scope=CredentialScope([home.url]))
    unscoped = transport(scope=CredentialScope(None))  # no restriction: each request's own origin
    try:
        await scoped.get_json(f"{home.url}/items/9")
        await scoped.get_json(f"{other.url}/items/10")
        await scoped.get_page(f"{other.url}/items/11", f"{other.url}/items/11")
        await unscoped.get_json(f"{other.url}/items/12")
    finally:
        await scoped.aclose()
        await unscoped.aclose()
    assert with_credentials(seen(home, "/items/9")[0])
    assert not with_credentials(seen(other, "/items/10")[0])
    assert not with_credentials(seen(other, "/items/11")[0])
    assert with_credentials(seen(other, "/items/12")[0])


# ---- what aiohttp would do on its own --------------------------------------------------------------------


async def test_a_dropped_request_is_not_sent_again_by_aiohttp(client, home):
    with pytest.raises(TransportError):
        await client.get_json(f"{home.url}/drop")
    assert home.stats.by_path["/drop"] == 1, "one attempt, one arrival"


async def test_an_error_status_is_a_fetch_error_with_the_status(client, home):
    with pytest.raises(HTTPStatusError) as failed:
        await client.get_json(f"{home.url}/status/503?retry_after=7")
    assert (failed.value.status, failed.value.retry_after) == (503, 7.0)


async def test_the_proxy_variables_are_honoured(monkeypatch, home):
    """With ``HTTP_PROXY`` set, a request to a port nothing listens on arrives at the proxy (the demo API
    serves the absolute-form request); without it, that request is refused."""
    target = f"http://127.0.0.1:{closed_port()}/items/13"
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct = transport()
    try:
        with pytest.raises(TransportError):
            await direct.get_json(target)
    finally:
        await direct.aclose()
    monkeypatch.setenv("HTTP_PROXY", home.url)
    proxied = transport()
    try:
        assert (await proxied.get_json(target))["id"] == 13
    finally:
        await proxied.aclose()
    assert len(seen(home, "/items/13")) == 1


@pytest.mark.parametrize(
    ("headers", "sent"),
    [
        ({}, defaults.ACCEPT_ENCODING),
        ({"Accept-Encoding": "identity"}, "identity"),
        ({"accept-encoding": "identity"}, "identity"),
    ],
)
async def test_accept_encoding_is_the_default_unless_the_caller_sets_one(home, headers, sent):
    client = transport(headers=headers)
    try:
        await client.get_json(f"{home.url}/items/14")
    finally:
        await client.aclose()
    (request,) = seen(home, "/items/14")
    assert request["accept-encoding"] == sent
