"""engine/_transports.py on its own: which runs take the aiohttp fast path, how the httpx clients are sized
and what they send (``Accept-Encoding``), and how a paginated run's page fetchers route a page — through a
custom ``api_call_factory`` only on its stream's origin. httpx is mocked with respx (the aiohttp transport
itself: test_transport.py)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Generator
from typing import Any

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import GetAPICall, HeaderAuth
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine._transports import open_fetchers, uses_fast_path
from airflow_provider_bulk_uploader.engine.auth import CredentialAuth
from airflow_provider_bulk_uploader.engine.spec import FetchSpec
from airflow_provider_bulk_uploader.engine.transport import AiohttpTransport

from .conftest import secret
from .virtual_clock import run_virtual

HOME, OTHER = "https://api.test", "https://cdn.test"


class Wrapped(GetAPICall):  # overrides content(): must not be bypassed
    async def content(self) -> Any:
        return {"wrapped": await super().content()}


class Inherits(GetAPICall):  # does not declare the fast path itself
    pass


class Declares(GetAPICall):  # declares it again, knowingly
    fast_path_method = "GET"


def function_factory(*, client: httpx.AsyncClient, url: str, retry_policy: Any) -> GetAPICall:
    return GetAPICall(client, url, retry_policy)


class SlotsFactory:
    __slots__ = ()

    def __call__(self, *, client: httpx.AsyncClient, url: str, retry_policy: Any) -> GetAPICall:
        return GetAPICall(client, url, retry_policy)


class SignedAuth(httpx.Auth):  # per-request credentials: only an httpx client can apply them
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Signature"] = "signed"
        yield request


@pytest.mark.parametrize(
    ("backend", "factory", "auth", "fast"),
    [
        ("aiohttp", GetAPICall, None, True),
        ("aiohttp", GetAPICall, "static", True),  # HeaderAuth & co.: static credentials, applied by aiohttp
        ("httpx", GetAPICall, None, False),
        ("aiohttp", Wrapped, None, False),
        ("aiohttp", Inherits, None, False),
        ("aiohttp", Declares, None, True),
        ("aiohttp", function_factory, None, False),
        ("aiohttp", SlotsFactory(), None, False),
        ("aiohttp", GetAPICall, "signed", False),  # a non-static httpx.Auth needs httpx
    ],
    ids=["builtin", "static-auth", "httpx", "override", "inherit", "redeclare", "func", "slots", "flow-auth"],
)
def test_uses_fast_path(backend: str, factory: Any, auth: str | None, fast: bool) -> None:
    auths = {None: None, "static": HeaderAuth("X-API-Key", secret()), "signed": SignedAuth()}
    the_auth: httpx.Auth | None = auths[auth]
    credentials = the_auth if isinstance(the_auth, CredentialAuth) else None
    assert uses_fast_path(FetchSpec(http_backend=backend), factory, credentials, the_auth) is fast  # type: ignore[arg-type]


@pytest.mark.parametrize("pages", [False, True])
async def test_the_fast_path_is_one_aiohttp_transport(pages: bool) -> None:
    fetchers = open_fetchers(FetchSpec(), GetAPICall, 50, None, None, pages=pages)
    try:
        assert fetchers.fast and len(fetchers.fetch) == 1 and len(fetchers.closers) == 1
        (fetch,) = fetchers.fetch
        assert isinstance(fetch.__self__, AiohttpTransport)
        assert fetch.__func__ is (AiohttpTransport.get_page if pages else AiohttpTransport.get_json)
    finally:
        await fetchers.aclose()


@pytest.mark.parametrize("concurrency", [1, 8, 9, 20, 64, 100])
async def test_httpx_clients_are_sized_by_connections_per_client(monkeypatch, concurrency: int) -> None:
    sizes: list[int] = []
    limits = httpx.Limits

    def recording_limits(**kwargs: Any) -> httpx.Limits:
        sizes.append(kwargs["max_connections"])
        assert kwargs["max_keepalive_connections"] == kwargs["max_connections"]
        return limits(**kwargs)

    monkeypatch.setattr(httpx, "Limits", recording_limits)
    fetchers = open_fetchers(FetchSpec(http_backend="httpx"), GetAPICall, concurrency, None, None)
    try:
        n_clients = math.ceil(concurrency / defaults.HTTPX_CONNECTIONS_PER_CLIENT)
        assert not fetchers.fast
        assert len(fetchers.fetch) == len(fetchers.closers) == len(sizes) == n_clients
        assert set(sizes) == {math.ceil(concurrency / n_clients)}
        assert sum(sizes) >= concurrency, "no worker waits for a connection inside a pool"
        assert max(sizes) <= defaults.HTTPX_CONNECTIONS_PER_CLIENT
    finally:
        await fetchers.aclose()


@pytest.mark.parametrize(
    ("headers", "sent"),
    [
        ({}, defaults.ACCEPT_ENCODING),
        ({"X-Trace": "1"}, defaults.ACCEPT_ENCODING),
        ({"Accept-Encoding": "identity"}, "identity"),  # the user's own, as usually spelled
        ({"accept-encoding": "identity"}, "identity"),  # in any letter case
    ],
)
@respx.mock
async def test_httpx_accept_encoding_is_the_default_unless_the_user_sets_one(headers, sent) -> None:
    route = respx.get(f"{HOME}/x").mock(return_value=httpx.Response(200, json=1))
    fetchers = open_fetchers(FetchSpec(http_backend="httpx", headers=headers), GetAPICall, 1, None, None)
    try:
        assert await fetchers.fetch[0](f"{HOME}/x") == 1
    finally:
        await fetchers.aclose()
    assert route.calls.last.request.headers.get_list("Accept-Encoding") == [sent]


def test_an_httpx_attempt_is_bounded_as_a_whole_by_the_timeout() -> None:
    """httpx's own timeouts apply per read: a factory that trickles is cut off at ``timeout`` all the same."""

    class Slow:
        def __init__(self, *, client: httpx.AsyncClient, url: str, retry_policy: Any) -> None:
            pass

        async def content(self) -> Any:
            await asyncio.sleep(60)

    async def scenario() -> float:
        fetchers = open_fetchers(FetchSpec(http_backend="httpx", timeout=5), Slow, 1, None, None)
        loop = asyncio.get_running_loop()
        try:
            with pytest.raises(TimeoutError):
                await fetchers.fetch[0](f"{HOME}/x")
            return loop.time()
        finally:
            await fetchers.aclose()

    assert run_virtual(scenario()) == pytest.approx(5.0)


# ---- page fetchers (pages=True) ----------------------------------------------------------------------------


class Recording:
    """A custom factory (no fast path on any backend) that records the URLs it was built for."""

    urls: list[str] = []

    def __init__(self, *, client: httpx.AsyncClient, url: str, retry_policy: Any) -> None:
        self.client, self.url = client, url
        Recording.urls.append(url)

    async def content(self) -> Any:
        return {"via": "factory", "body": (await self.client.get(self.url)).json()}


@pytest.fixture
def pages_api() -> Any:
    with respx.mock:

        def answer(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json={"url": str(request.url)}, headers={"X-Next-Cursor": "c2"})

        home = respx.get(url__startswith=HOME).mock(side_effect=answer)
        other = respx.get(url__startswith=OTHER).mock(side_effect=answer)
        Recording.urls = []
        yield home, other


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_a_custom_factory_serves_only_the_pages_on_its_streams_origin(pages_api, backend) -> None:
    home, other = pages_api
    token = secret()
    auth = HeaderAuth("X-API-Key", token)
    spec = FetchSpec(http_backend=backend)
    fetchers = open_fetchers(spec, Recording, 2, auth, auth, pages=True)
    start = f"{HOME}/pages?page=1"
    try:
        assert not fetchers.fast
        body, headers = await fetchers.fetch[0](f"{HOME}/pages?page=2", start)
        assert body == {"via": "factory", "body": {"url": f"{HOME}/pages?page=2"}}
        assert dict(headers) == {}, "a factory gives a body only"
        body, headers = await fetchers.fetch[0](f"{OTHER}/pages?page=3", start)
    finally:
        await fetchers.aclose()
    assert body == {"url": f"{OTHER}/pages?page=3"} and headers["X-Next-Cursor"] == "c2"
    assert Recording.urls == [f"{HOME}/pages?page=2"], "the page on another origin did not go through it"
    assert home.calls.last.request.headers["X-API-Key"] == token
    assert "X-API-Key" not in other.calls.last.request.headers, "no credentials to another origin"


@respx.mock
async def test_the_builtin_get_on_httpx_pages_returns_the_response_headers() -> None:
    respx.get(f"{HOME}/pages").mock(return_value=httpx.Response(200, json=[1], headers={"Link": "<x>"}))
    fetchers = open_fetchers(FetchSpec(http_backend="httpx"), GetAPICall, 1, None, None, pages=True)
    try:
        body, headers = await fetchers.fetch[0](f"{HOME}/pages", f"{HOME}/pages")
    finally:
        await fetchers.aclose()
    assert body == [1] and headers["Link"] == "<x>"  # what header_link / header_cursor read


@respx.mock
async def test_a_stream_outside_the_credential_scope_gets_no_credentials_on_any_page() -> None:
    route = respx.get(url__startswith=OTHER).mock(return_value=httpx.Response(200, json=1))
    token = secret()
    auth = HeaderAuth("X-API-Key", token)
    spec = FetchSpec(http_backend="httpx", credential_origins=(HOME,))
    fetchers = open_fetchers(spec, GetAPICall, 1, auth, auth, pages=True)
    try:
        await fetchers.fetch[0](f"{OTHER}/pages?page=2", f"{OTHER}/pages")
    finally:
        await fetchers.aclose()
    assert "X-API-Key" not in route.calls.last.request.headers
