"""Credentials: all four auths reach the server on both backends, never follow a redirect to another
origin, and never show up in logs (httpx's INFO lines included), exception messages, repr() or the
report."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

import httpx
import pytest

from airflow_provider_bulk_uploader import (
    BasicAuth,
    BearerAuth,
    GetAPICall,
    HeaderAuth,
    ListStore,
    QueryParamsAuth,
    UploadedData,
    redact,
    redact_url,
    register_secret,
)
from airflow_provider_bulk_uploader.engine.interfaces import Auth

from .conftest import BACKENDS, fast_policy, secret

pytestmark = pytest.mark.integration

AUTH_MODES = ("header", "query", "bearer", "basic")


def make_auth(mode: str, token: str):
    return {
        "header": lambda: HeaderAuth("X-API-Key", token),
        "query": lambda: QueryParamsAuth("api_key", token),
        "bearer": lambda: BearerAuth(token),
        "basic": lambda: BasicAuth("user", token),
    }[mode]()


def credential_seen(record, mode: str, token: str) -> bool:
    """Did this request (as the server recorded it) carry the credential in any form?"""
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    values = [*record.headers.values(), *record.query.values()]
    return any(token in v or basic in v for v in values)


# ---- all four auths, both backends ----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_each_auth_reaches_the_server(make_demo, mode, backend):
    token = secret(mode)
    api = make_demo(token=token, auth=mode)  # answers 401/403 without the right credential
    auth = make_auth(mode, token)
    assert isinstance(auth, Auth) and isinstance(auth, httpx.Auth)
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[f"{api.url}/items/{i}" for i in range(5)], http_backend=backend
    ).run(auth=auth)
    assert report.failed == 0, report.failures
    assert sorted(item["id"] for item in store.saved_data()) == list(range(5))
    assert all(credential_seen(r, mode, token) for r in api.requests)


@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_wrong_credentials_are_a_403_failure_without_the_token(make_demo, mode):
    api = make_demo(token=secret("right"), auth=mode)
    wrong = secret("wrong")
    report = await UploadedData(ListStore(), url_maker=[f"{api.url}/items/1"]).run(
        auth=make_auth(mode, wrong)
    )
    assert report.failures[0].status == 403 and report.failures[0].attempts == 1
    assert (
        wrong not in json.dumps(report.to_dict()) and wrong not in str(report) and wrong not in repr(report)
    )


async def test_a_custom_httpx_auth_works_on_the_default_backend(make_demo):
    token = secret("custom")
    api = make_demo(token=token, auth="header", auth_name="X-Custom")

    class CustomAuth(httpx.Auth):
        def auth_flow(self, request):
            request.headers["X-Custom"] = token
            yield request

    report = await UploadedData(ListStore(), url_maker=[f"{api.url}/items/1"]).run(auth=CustomAuth())
    assert report.succeeded == 1
    assert api.requests[0].headers.get("X-Custom") == token


# ---- redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_credentials_are_not_sent_to_another_origin_on_redirect(make_demo, mode, backend):
    token = secret(mode)
    origin = make_demo(token=token, auth=mode)
    elsewhere = make_demo()  # another port: another origin; no auth, records what it receives
    target = f"{elsewhere.url}/items/9"
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[f"{origin.url}/redirect?to={quote(target, safe='')}"], http_backend=backend
    ).run(auth=make_auth(mode, token))
    assert report.failed == 0, report.failures
    assert store.saved_data()[0]["id"] == 9
    assert credential_seen(origin.requests[0], mode, token)  # sent where it belongs
    assert len(elsewhere.requests) == 1
    leaked = elsewhere.requests[0]
    assert not credential_seen(leaked, mode, token), (leaked.headers, leaked.query)
    assert "X-API-Key" not in leaked.headers and "api_key" not in leaked.query


# Regression (fixed in 670120f): on the httpx backend QueryParamsAuth was added once, in auth_flow, and the
# redirected request (built from Location) arrived without it: 401.
@pytest.mark.parametrize(("mode", "backend"), [(m, b) for m in AUTH_MODES for b in BACKENDS])
async def test_credentials_are_kept_on_a_same_origin_redirect(make_demo, mode, backend):
    token = secret(mode)
    api = make_demo(token=token, auth=mode)
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[f"{api.url}/redirect?to=/items/4"], http_backend=backend
    ).run(auth=make_auth(mode, token))
    assert report.failed == 0, report.failures
    assert store.saved_data()[0]["id"] == 4
    assert all(credential_seen(r, mode, token) for r in api.requests)


# ---- nothing leaks: logs, exceptions, repr, report --------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_tokens_never_reach_log_output(make_demo, caplog, mode, backend):
    token = secret(mode)
    api = make_demo(token=token, auth=mode)
    urls = [f"{api.url}/items/{i}" for i in range(3)]
    urls += [f"{api.url}/status/503", f"{api.url}/drop", f"{api.url}/invalid-json", f"{api.url}/items/x"]
    caplog.set_level(logging.DEBUG)  # root: engine, httpx (INFO per request), httpcore, aiohttp
    for name in ("httpx", "httpcore", "airflow_provider_bulk_uploader"):  # whatever an earlier import set
        caplog.set_level(logging.DEBUG, logger=name)
    report = await UploadedData(
        ListStore(),
        url_maker=urls,
        retry_policy=fast_policy(2),
        progress_interval=0.01,
        http_backend=backend,
    ).run(auth=make_auth(mode, token))
    assert report.succeeded == 3 and report.failed == 4
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert token not in text
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    assert basic not in text
    assert any(
        r.name == "airflow_provider_bulk_uploader" and r.levelno == logging.DEBUG for r in caplog.records
    )
    if backend == "httpx":
        # httpx prints every request URL at INFO: the query token must be there, redacted
        httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
        assert httpx_lines and all("HTTP Request: GET" in line for line in httpx_lines)
        if mode == "query":
            assert any("api_key=***" in line for line in httpx_lines), httpx_lines[:2]
    for failure in report.failures:
        assert token not in failure.error and token not in failure.url


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_token_the_user_put_in_the_url_is_redacted_everywhere(demo, caplog, backend):
    token = secret("inurl")
    urls = [f"{demo.url}/status/404?token={token}", f"{demo.url}/drop?api_key={token}&page=2"]
    caplog.set_level(logging.DEBUG)
    report = await UploadedData(
        ListStore(), url_maker=urls, retry_policy=fast_policy(1), http_backend=backend
    ).run()
    assert report.failed == 2
    assert token not in caplog.text and token not in "".join(r.getMessage() for r in caplog.records)
    assert (
        token not in json.dumps(report.to_dict()) and token not in str(report) and token not in repr(report)
    )
    urls_shown = sorted(f.url for f in report.failures)
    assert urls_shown == sorted([f"{demo.url}/status/404?token=***", f"{demo.url}/drop?api_key=***&page=2"])


@pytest.mark.parametrize("mode", AUTH_MODES)
def test_repr_of_auth_objects_hides_the_secret(mode):
    token = secret(mode)
    auth = make_auth(mode, token)
    shown = repr(auth) + str(auth)
    assert token not in shown and "***" in shown
    assert type(auth).__name__ in shown


def test_exception_messages_from_auth_construction_hide_the_value():
    with pytest.raises(ValueError, match="token") as info:
        HeaderAuth("X-API-Key", "")
    assert "''" in str(info.value)
    with pytest.raises(ValueError, match="header_name"):
        HeaderAuth("", secret())


def test_repr_of_api_call_and_uploader_hide_query_tokens():
    token = secret("repr")
    QueryParamsAuth("sig2", token)  # registers the parameter name and the value
    call = GetAPICall(httpx.AsyncClient(), f"https://api.test/x?sig2={token}")
    assert token not in repr(call)
    uploader = UploadedData(ListStore(), url_maker=[f"https://api.test/x?sig2={token}"])
    assert token not in repr(uploader)


def test_redaction_helpers():
    token = secret("reg")
    register_secret(token)
    assert redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"
    assert redact_url(f"https://user:pw-{token}@h.test/p?x=1&access_token=abc&key=k") == (
        "https://user:***@h.test/p?x=1&access_token=***&key=***"
    )
    assert (
        redact("see https://h.test/p?page=2&apikey=zzz9 now") == "see https://h.test/p?page=2&apikey=*** now"
    )
    assert redact_url("https://h.test/p?page=2") == "https://h.test/p?page=2"  # nothing to hide


# Regression (fixed in 670120f): the aiohttp path sent every headers= entry, Authorization included, to any
# origin on a redirect.
@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_authorization_extra_header_is_not_sent_to_another_origin(make_demo, backend):
    origin, elsewhere = make_demo(), make_demo()
    token = secret("hdr")
    target = quote(f"{elsewhere.url}/items/2", safe="")
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{origin.url}/redirect?to={target}"],
        headers={"Authorization": f"Bearer {token}", "X-Trace": "t1"},
        http_backend=backend,
    ).run()
    assert report.succeeded == 1
    assert origin.requests[0].headers.get("Authorization") == f"Bearer {token}"
    leaked = elsewhere.requests[0].headers
    assert leaked.get("X-Trace") == "t1"  # ordinary extra headers do follow
    assert "Authorization" not in leaked
