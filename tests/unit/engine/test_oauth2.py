"""OAuth2ClientCredentials' token cache, on the virtual clock with respx (no sockets): one fetch for many
waiting requests, renewal a margin before ``expires_in``, a 401 answered by one renewal and one more try,
the token endpoint's failures, and the token request itself (client_secret_basic / _post, parameters).
The same behaviour against a real authorization server (Authlib) on both backends:
tests/integration/test_oauth2_server.py."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from datetime import timedelta
from urllib.parse import parse_qs, unquote

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import (
    AuthenticationError,
    ListStore,
    OAuth2ClientCredentials,
    Ratelimit,
    UploadedData,
)
from airflow_provider_bulk_uploader.engine.errors import StaleCredentialsError
from tests.unit.engine.conftest import fast_policy, secret
from tests.unit.engine.virtual_clock import run_virtual

TOKEN_URL = "https://auth.test/oauth/token"
API = "https://api.test"


class TokenServer:
    """A respx token endpoint: issues ``tok-1``, ``tok-2`` … (each registered by the auth as a secret),
    after ``delay`` seconds of virtual time, or answers what ``script`` says first."""

    def __init__(self, expires_in: float | None = 100.0, delay: float = 0.0, script=()):
        self.expires_in = expires_in
        self.delay = delay
        self.script = list(script)  # httpx.Response objects (or exceptions) answered before any token
        self.requests: list[httpx.Request] = []
        self.issued: list[str] = []
        self.times: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.times.append(asyncio.get_running_loop().time())
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        token = f"tok-{len(self.issued) + 1}-{secret('at')}"
        self.issued.append(token)
        body = {"access_token": token, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return httpx.Response(200, json=body)


def make_auth(**kwargs) -> tuple[OAuth2ClientCredentials, str]:
    client_secret = secret("cs+/=")
    kwargs.setdefault("refresh_margin", 60.0)
    return OAuth2ClientCredentials(TOKEN_URL, "client-1", client_secret, **kwargs), client_secret


def bearer(request: httpx.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ")


# ---- single flight, renewal ------------------------------------------------------------------------------


def test_concurrent_requests_wait_for_one_token_fetch():
    server = TokenServer(delay=0.5)
    auth, _ = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            return await asyncio.gather(*(auth.current() for _ in range(50)))

    tokens = run_virtual(main())
    assert len(server.requests) == 1 and auth.token_requests == 1
    assert {t.headers["Authorization"] for t in tokens} == {f"Bearer {server.issued[0]}"}


def test_renewed_a_margin_before_expiry_and_once_for_all():
    """expires_in 100 s: the margin is min(60 s, 10 % of 100 s) = 10 s, so the token is renewed from 90 s
    on, by one request; the others go on with the old one meanwhile (no stall, no stampede)."""
    server = TokenServer(expires_in=100.0, delay=0.2)
    auth, _ = make_auth()

    async def main():
        loop = asyncio.get_running_loop()
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            first = await auth.current()
            start = loop.time()  # 0.2 s: the first fetch took its delay
            await asyncio.sleep(89.7 - start)
            assert (await auth.current()) is first and len(server.requests) == 1  # 89.7 s < 90 s
            await asyncio.sleep(0.4)  # 90.1 s: past refresh_at (90 s after the first token request was sent)
            renewing = asyncio.ensure_future(auth.current())
            await asyncio.sleep(0)  # it holds the lock, its token request is in flight
            others = await asyncio.gather(*(auth.current() for _ in range(20)))
            assert all(t is first for t in others), "the old token is used while one request renews it"
            second = await renewing
            assert second is not first and len(server.requests) == 2
            assert (await auth.current()) is second
            return loop.time()

    run_virtual(main())
    assert server.times[1] == pytest.approx(90.1)


def test_margin_is_at_most_a_tenth_of_a_short_lifetime_and_the_configured_seconds_of_a_long_one():
    for expires_in, renew_after in ((2.0, 1.8), (3600.0, 3540.0), (300.0, 270.0)):
        server = TokenServer(expires_in=expires_in)
        auth, _ = make_auth()

        async def main(auth=auth, server=server, expires_in=expires_in, renew_after=renew_after):
            with respx.mock:
                respx.post(TOKEN_URL).mock(side_effect=server)
                token = await auth.current()
                await asyncio.sleep(renew_after - 0.01)
                assert (await auth.current()) is token, expires_in
                await asyncio.sleep(0.02)
                assert (await auth.current()) is not token, expires_in

        run_virtual(main())
        assert len(server.requests) == 2


def test_a_token_without_expires_in_is_kept_until_the_api_refuses_it():
    server = TokenServer(expires_in=None)
    auth, _ = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            token = await auth.current()
            await asyncio.sleep(86_400)
            assert (await auth.current()) is token

    run_virtual(main())
    assert len(server.requests) == 1


def test_a_run_fetches_once_per_lifetime_not_per_request_nor_per_worker():
    """60 s of requests at 20/s with 8 workers and 10 s tokens: about 60/9 token requests."""
    server = TokenServer(expires_in=10.0, delay=0.05)
    auth, _ = make_auth()
    seen: list[str] = []

    async def api(request: httpx.Request) -> httpx.Response:
        seen.append(bearer(request))
        await asyncio.sleep(0.05)
        return httpx.Response(200, json={"id": int(request.url.path.rsplit("/", 1)[1])})

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            respx.get(url__regex=rf"{API}/items/\d+").mock(side_effect=api)
            store = ListStore()
            report = await UploadedData(
                store,
                url_maker=[f"{API}/items/{i}" for i in range(1200)],
                rate_limit=Ratelimit(20, timedelta(seconds=1)),
                max_concurrency=8,
                http_backend="httpx",
                progress_interval=0,
            ).run(auth=auth)
            return report, store

    report, store = run_virtual(main())
    assert report.succeeded == 1200 and report.attempts == 1200  # token requests are not API attempts
    assert sorted(r["id"] for r in store.saved_data()) == list(range(1200))
    assert 60 / 10 <= len(server.requests) <= 60 / 9 + 1, len(server.requests)
    assert set(seen) <= set(server.issued)


# ---- 401 ---------------------------------------------------------------------------------------------------


def test_a_revoked_token_is_renewed_once_and_each_refused_request_sent_once_more():
    server = TokenServer(expires_in=3600.0, delay=0.05)
    auth, _ = make_auth()
    revoked: set[str] = set()
    hits: dict[int, int] = {}

    async def api(request: httpx.Request) -> httpx.Response:
        n = int(request.url.path.rsplit("/", 1)[1])
        hits[n] = hits.get(n, 0) + 1
        await asyncio.sleep(0.01)
        if n == 40 and not revoked:
            revoked.add(server.issued[0])  # the server revokes the first token mid-run
        if bearer(request) in revoked:
            return httpx.Response(401, json={"error": "invalid_token"})
        return httpx.Response(200, json={"id": n})

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            respx.get(url__regex=rf"{API}/items/\d+").mock(side_effect=api)
            return await UploadedData(
                ListStore(),
                url_maker=[f"{API}/items/{i}" for i in range(100)],
                max_concurrency=8,
                http_backend="httpx",
                retry_policy=fast_policy(),
                progress_interval=0,
            ).run(auth=auth)

    report = run_virtual(main())
    assert report.succeeded == 100 and report.failed == 0
    assert len(server.requests) == 2, "one renewal for every request that got the 401"
    refused = [n for n, count in hits.items() if count > 1]
    assert refused and all(hits[n] == 2 for n in refused), "each refused request was sent once more"
    assert report.attempts == 100 + len(refused)  # the second try is an attempt of its own (limiter slot)


def test_a_token_the_api_never_took_is_not_renewed_per_failing_url():
    """The API refuses every token (a wrong audience): each URL fails with its 401, one token in all."""
    server = TokenServer()
    auth, _ = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            respx.get(url__regex=rf"{API}/items/\d+").mock(return_value=httpx.Response(401))
            return await UploadedData(
                ListStore(),
                url_maker=[f"{API}/items/{i}" for i in range(30)],
                max_concurrency=4,
                http_backend="httpx",
                progress_interval=0,
            ).run(auth=auth)

    report = run_virtual(main())
    assert report.failed == 30 and report.attempts == 30
    assert {f.status for f in report.failures} == {401}
    assert len(server.requests) == 1


def test_a_401_after_the_renewed_token_is_an_ordinary_failure():
    """Once more means once: the API takes tok-1, then refuses every token."""
    server = TokenServer()
    auth, _ = make_auth()
    calls = []

    def api(request: httpx.Request) -> httpx.Response:
        calls.append(bearer(request))
        return httpx.Response(200, json={}) if len(calls) == 1 else httpx.Response(401)

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            respx.get(url__regex=rf"{API}/items/\d+").mock(side_effect=api)
            return await UploadedData(
                ListStore(),
                url_maker=[f"{API}/items/1", f"{API}/items/2"],
                max_concurrency=1,
                http_backend="httpx",
                progress_interval=0,
            ).run(auth=auth)

    report = run_virtual(main())
    assert report.succeeded == 1 and report.failed == 1
    assert calls == [server.issued[0], server.issued[0], server.issued[1]]
    assert len(server.requests) == 2


def test_outside_the_engine_a_401_that_renewal_may_fix_raises_stale_credentials():
    server = TokenServer()
    auth, _ = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            route = respx.get(f"{API}/x").mock(side_effect=[httpx.Response(200), httpx.Response(401)])
            async with httpx.AsyncClient(auth=auth) as client:
                assert (await client.get(f"{API}/x")).status_code == 200
                with pytest.raises(StaleCredentialsError):
                    await client.get(f"{API}/x")
                route.mock(return_value=httpx.Response(200))
                assert (await client.get(f"{API}/x")).status_code == 200

    run_virtual(main())
    assert len(server.requests) == 2


# ---- the token endpoint fails ------------------------------------------------------------------------------


def test_a_429_from_the_token_endpoint_is_waited_out():
    server = TokenServer(script=[httpx.Response(429, headers={"Retry-After": "7"})])
    auth, _ = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            await auth.current()

    run_virtual(main())
    assert len(server.requests) == 2 and server.times[1] - server.times[0] == pytest.approx(7.0)


def test_5xx_and_dropped_connections_are_tried_again_then_the_run_fails_naming_the_token_url(caplog):
    server = TokenServer(script=[httpx.ConnectError("refused"), *[httpx.Response(503) for _ in range(10)]])
    auth, client_secret = make_auth(max_attempts=3)

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            api = respx.get(url__regex=rf"{API}/items/\d+").mock(return_value=httpx.Response(200, json={}))
            with pytest.raises(AuthenticationError) as info:
                await UploadedData(
                    ListStore(),
                    url_maker=[f"{API}/items/{i}" for i in range(20)],
                    http_backend="httpx",
                    progress_interval=0,
                ).run(auth=auth)
            assert not api.called
            return info.value

    with caplog.at_level(logging.DEBUG):
        error = run_virtual(main())
    assert TOKEN_URL in str(error) and "503" in str(error) and error.status == 503
    assert len(server.requests) == 3
    assert client_secret not in str(error) + caplog.text


@pytest.mark.parametrize("backend", ["httpx", "aiohttp"])
def test_a_wrong_secret_fails_at_once_with_the_servers_reason_and_the_token_url(backend):
    refusal = httpx.Response(
        401, json={"error": "invalid_client", "error_description": "Client authentication failed."}
    )
    server = TokenServer(script=[refusal])
    auth, client_secret = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            with pytest.raises(AuthenticationError) as info:
                # aiohttp: the token request is httpx's (mocked); the API is never reached
                await UploadedData(
                    ListStore(), url_maker=["https://127.0.0.1:9/items/1"], http_backend=backend
                ).run(auth=auth)
            return info.value

    error = run_virtual(main())
    text = str(error)
    assert TOKEN_URL in text and "invalid_client" in text and "Client authentication failed" in text
    assert error.error == "invalid_client" and len(server.requests) == 1
    assert client_secret not in text


@pytest.mark.parametrize(
    "answer, expected",
    [
        (httpx.Response(200, json={"token_type": "Bearer", "expires_in": 60}), "without an access_token"),
        (httpx.Response(200, text="<html>login</html>"), "not JSON"),
        (httpx.Response(200, json=["tok"]), "JSON list"),
        (httpx.Response(200, json={"access_token": "abc123", "token_type": "mac"}), "only Bearer"),
        (httpx.Response(302, headers={"Location": "https://elsewhere.test/token"}), "not followed"),
    ],
)
def test_a_token_answer_that_cannot_be_used_fails_naming_the_token_url(answer, expected):
    auth, _ = make_auth()

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(return_value=answer)
            with pytest.raises(AuthenticationError) as info:
                await auth.current()
            return info.value

    error = run_virtual(main())
    assert expected in str(error) and TOKEN_URL in str(error)


# ---- the token request -------------------------------------------------------------------------------------


def test_client_secret_basic_form_encodes_id_and_secret_and_sends_scope_audience_and_params():
    server = TokenServer()
    auth, client_secret = make_auth(
        scope=["read:items", "write"], audience="https://api.test", token_params={"resource": "r1"}
    )

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            await auth.current()

    run_virtual(main())
    (request,) = server.requests
    kind, encoded = request.headers["Authorization"].split(" ")
    user, password = base64.b64decode(encoded).decode().split(":")
    assert kind == "Basic" and unquote(user) == "client-1" and unquote(password) == client_secret
    assert "%2B" in password  # '+' is form-encoded before base64 (RFC 6749 §2.3.1)
    form = parse_qs(request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "scope": ["read:items write"],
        "audience": ["https://api.test"],
        "resource": ["r1"],
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_client_secret_post_puts_both_in_the_body_and_no_authorization_header():
    server = TokenServer()
    auth, client_secret = make_auth(token_auth_method="client_secret_post")

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            await auth.current()

    run_virtual(main())
    (request,) = server.requests
    assert "Authorization" not in request.headers
    form = parse_qs(request.content.decode())
    assert form["client_id"] == ["client-1"] and form["client_secret"] == [client_secret]


def test_the_secret_goes_only_to_the_token_url_and_the_token_only_to_the_api():
    server = TokenServer()
    auth, client_secret = make_auth()
    api_requests: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        api_requests.append(request)
        return httpx.Response(200, json={})

    async def main():
        with respx.mock:
            respx.post(TOKEN_URL).mock(side_effect=server)
            respx.get(url__regex=rf"{API}/items/\d+").mock(side_effect=api)
            await UploadedData(
                ListStore(), url_maker=[f"{API}/items/{i}" for i in range(5)], http_backend="httpx"
            ).run(auth=auth)

    run_virtual(main())
    token = server.issued[0]
    for request in api_requests:
        text = json.dumps(dict(request.headers)) + str(request.url)
        assert client_secret not in text and "Basic" not in text and bearer(request) == token
    for request in server.requests:
        assert token not in json.dumps(dict(request.headers)) + request.content.decode()


def test_repr_and_errors_never_show_the_secret():
    auth, client_secret = make_auth(scope="read")
    assert client_secret not in repr(auth) and "***" in repr(auth)
    with pytest.raises(ValueError, match="must not contain control characters") as info:
        OAuth2ClientCredentials(TOKEN_URL, "id", client_secret + "\n")
    assert client_secret not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"token_url": "http://auth.example.com/token"}, "must be an https:// URL"),
        ({"token_url": "https://user:pw@auth.example.com/token"}, "must not carry a user"),
        ({"token_url": "auth.example.com/token"}, "absolute http"),
        ({"token_auth_method": "private_key_jwt"}, "token_auth_method must be one of"),
        ({"token_params": {"grant_type": "password"}}, "must not set 'grant_type'"),
        ({"token_params": {"scope": "x"}}, "use the scope= argument"),
        ({"client_id": ""}, "client_id must be a non-empty string"),
        ({"refresh_margin": -1}, "refresh_margin"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_the_argument(kwargs, message):
    arguments = {"token_url": TOKEN_URL, "client_id": "id", "client_secret": "s3cr3t-value", **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        OAuth2ClientCredentials(**arguments)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/token", TOKEN_URL]
)
def test_http_is_accepted_on_loopback_only(url):
    assert OAuth2ClientCredentials(url, "id", "s3cr3t-value").token_url == url
