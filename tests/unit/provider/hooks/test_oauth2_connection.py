"""``auth_type: oauth2_client_credentials`` on the connection (issue 24): the extras are parsed by their rows,
refused when they do not fit, reach the engine's OAuth2ClientCredentials, and the Test button says which
step failed — the token or the request — without the secret or the token. (The same against a real
authorization server: tests/integration/test_oauth2_server.py.)"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import OAuth2ClientCredentials
from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError, BulkFetchHook

BASE = "https://api.test/v1"
TOKEN_URL = "https://login.test/oauth2/token"
SECRET = f"Oauth-Client-Secret-{uuid.uuid4().hex[:10]}"
OAUTH2 = {"auth_type": "oauth2_client_credentials", "oauth2_url": TOKEN_URL}


@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch):
    def _set(extra: dict, login: str | None = "my-client", password: str | None = SECRET, **fields) -> None:
        conn = {"conn_type": "bulk_fetch", "host": BASE, "login": login, "password": password, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", json.dumps({**conn, **fields}))

    return _set


def test_the_extras_reach_the_engines_auth(set_conn):
    set_conn(
        {
            **OAUTH2,
            "oauth2_scope": " read:items  write ",
            "oauth2_audience": "https://api.test",
            "oauth2_client_auth": "client_secret_post",
            "oauth2_params": '{"resource": "https://api.test", "tenant": 42}',
            "timeout_seconds": 7,
        }
    )
    auth = BulkFetchHook().get_auth()
    assert isinstance(auth, OAuth2ClientCredentials)
    assert (auth.token_url, auth.client_id, auth.scope, auth.audience) == (
        TOKEN_URL,
        "my-client",
        "read:items write",
        "https://api.test",
    )
    assert auth.token_auth_method == "client_secret_post" and auth.timeout == 7.0
    assert auth.token_params == {"resource": "https://api.test", "tenant": "42"}
    assert SECRET not in repr(auth)


def test_no_extra_is_one_airflows_secrets_masker_hides():
    """Airflow hides the value of every extra whose name contains "token", "secret" … in the UI, the REST
    API and (through ``extra_dejson``) the logs: a token URL named ``token_url`` would show as "***" and mask
    every log line that names it, and hook_meta would serve a ``token_auth_method`` default of "***"."""
    from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

    from airflow_provider_bulk_uploader.utils.extras import EXTRA_FIELDS

    assert should_hide_value_for_key("token_url")  # the check below can fail
    assert [f.name for f in EXTRA_FIELDS if should_hide_value_for_key(f.name)] == []


def test_what_the_form_saves_for_every_connection_is_not_an_oauth2_setting(set_conn):
    """The UI may save each field's default (and an empty object) into every connection's extras."""
    set_conn({"auth_type": "header", "oauth2_client_auth": "client_secret_basic", "oauth2_params": "{}"})
    assert type(BulkFetchHook().get_auth()).__name__ == "HeaderAuth"


def test_client_secret_basic_is_the_default(set_conn):
    set_conn(dict(OAUTH2))
    auth = BulkFetchHook().get_auth()
    assert isinstance(auth, OAuth2ClientCredentials) and auth.token_auth_method == "client_secret_basic"


@pytest.mark.parametrize(
    ("extra", "fields", "message"),
    [
        ({"auth_type": "oauth2_client_credentials"}, {}, "field 'oauth2_url' is required with auth_type"),
        (OAUTH2, {"login": None}, "needs the client id in the Login field"),
        (OAUTH2, {"password": None}, "needs the client secret in the connection's Password field"),
        (
            {**OAUTH2, "oauth2_url": "http://login.test/token"},
            {},
            "field 'oauth2_url' must be an https:// URL (http:// only on loopback",
        ),
        ({**OAUTH2, "oauth2_url": "/oauth2/token"}, {}, "field 'oauth2_url' must be an absolute http(s) URL"),
        (
            {**OAUTH2, "oauth2_client_auth": "private_key_jwt"},
            {},
            "field 'oauth2_client_auth' must be one of",
        ),
        ({**OAUTH2, "oauth2_params": "{nope"}, {}, "field 'oauth2_params' must be a JSON object"),
        (
            {**OAUTH2, "oauth2_params": '["a"]'},
            {},
            "must be a JSON object of parameter names to values, got list",
        ),
        (
            {**OAUTH2, "oauth2_params": '{"grant_type": "password"}'},
            {},
            "field 'oauth2_params' must not set 'grant_type'",
        ),
        ({**OAUTH2, "oauth2_ulr": TOKEN_URL}, {}, "did you mean `oauth2_url`?"),
        ({**OAUTH2, "scope": "read"}, {}, "unknown extra field 'scope': did you mean `oauth2_scope`?"),
        (
            {"auth_type": "oauth2_client_credentials", "token_url": TOKEN_URL},
            {},
            "did you mean `oauth2_url`?",
        ),
        ({**OAUTH2, "client_secret": SECRET}, {}, "'client_secret': did you mean the Password field?"),
        # a token URL without the auth type would send the client secret to the API as a plain token
        (
            {"oauth2_url": TOKEN_URL},
            {},
            "'oauth2_url' is only used with auth_type 'oauth2_client_credentials'",
        ),
        (
            {"auth_type": "bearer", "oauth2_scope": "read"},
            {},
            "'oauth2_scope' is only used with auth_type 'oauth2_client",
        ),
    ],
)
def test_bad_oauth2_connections_fail_naming_the_connection_and_field(set_conn, extra, fields, message):
    set_conn(extra, **fields)
    with pytest.raises(BulkFetchConfigError) as info:
        BulkFetchHook().get_settings()
    assert message in str(info.value)
    assert "connection 'bulk_fetch_default'" in str(info.value)
    assert SECRET not in str(info.value)


def _token(value: str, expires_in: int = 3600) -> httpx.Response:
    return httpx.Response(200, json={"access_token": value, "token_type": "Bearer", "expires_in": expires_in})


@respx.mock
def test_the_test_button_fetches_a_token_then_makes_the_request_with_it(set_conn):
    set_conn({**OAUTH2, "test_path": "/health"})
    access = f"At-{uuid.uuid4().hex}"
    token_route = respx.post(TOKEN_URL).mock(return_value=_token(access))
    api = respx.get(f"{BASE}/health").mock(return_value=httpx.Response(200, json={"ok": True}))
    ok, message = BulkFetchHook().test_connection()
    assert ok, message
    assert f"step 1: access token from {TOKEN_URL} (expires in 3600 s)" in message
    assert f"step 2: HTTP 200 from GET {BASE}/health" in message
    assert (
        token_route.call_count == 1 and api.calls.last.request.headers["Authorization"] == f"Bearer {access}"
    )
    assert SECRET not in message and access not in message


@respx.mock
def test_the_test_button_says_the_token_step_failed(set_conn):
    set_conn(dict(OAUTH2))
    respx.post(TOKEN_URL).mock(
        return_value=httpx.Response(401, json={"error": "invalid_client", "error_description": "bad secret"})
    )
    api = respx.get(BASE).mock(return_value=httpx.Response(200))
    ok, message = BulkFetchHook().test_connection()
    assert not ok
    assert message.startswith(f"step 1 of 2 (access token from {TOKEN_URL}) failed:"), message
    assert "invalid_client" in message and not api.called and SECRET not in message


@respx.mock
def test_the_test_button_says_the_request_step_failed(set_conn):
    set_conn(dict(OAUTH2))
    access = f"At-{uuid.uuid4().hex}"
    respx.post(TOKEN_URL).mock(return_value=_token(access))
    respx.get(BASE).mock(return_value=httpx.Response(403))
    ok, message = BulkFetchHook().test_connection()
    assert not ok
    assert "step 1: access token from" in message and "step 2 of 2 failed: HTTP 403" in message
    assert "refuses this client's tokens" in message
    assert SECRET not in message and access not in message


def test_the_test_button_says_the_token_url_cannot_be_reached(set_conn):
    from tests.support.net import closed_port

    set_conn({**OAUTH2, "oauth2_url": f"http://127.0.0.1:{closed_port()}/token"})
    hook = BulkFetchHook()
    hook.get_auth().max_attempts = 1  # type: ignore[union-attr] - no backoff in a unit test
    ok, message = hook.test_connection()
    assert not ok and message.startswith("step 1 of 2 (access token from http://127.0.0.1:"), message
    assert "ConnectError" in message and SECRET not in message
