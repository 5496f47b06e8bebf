"""Credentials: all four auths reach the server on both backends and never follow a redirect to another
origin (where they never show up: test_redaction.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest

from airflow_provider_bulk_uploader import (
    HeaderAuth,
    ListStore,
    UploadedData,
)
from airflow_provider_bulk_uploader.engine.interfaces import Auth

from .conftest import AUTH_MODES, BACKENDS, credential_seen, make_auth, secret

pytestmark = pytest.mark.integration

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
