"""The connection form, end to end: a real ``airflow api-server`` serves ``GET /ui/connections/hook_meta``.

Airflow 3.3's UI builds the "Add connection" form from that endpoint, which reads ``conn-fields``
and ``ui-field-behaviour`` from ``get_provider_info()`` (the hook's classmethods are not consulted).
This test starts the API server on a free loopback port against a throwaway SQLite AIRFLOW_HOME and
checks that what the UI receives matches what the provider declares.

Auth: the default SimpleAuthManager with ``[core] simple_auth_manager_all_admins = True`` adds an admin token
to every request (``SimpleAllAdminMiddleware``), so no login round trip is needed.

Cost: ~5 s ``airflow db migrate`` + ~15 s API server start-up on a 2-core machine (one server per module).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from airflow_provider_bulk_uploader.get_provider_info import get_provider_info
from tests.support.net import free_port
from tests.support.processes import airflow_cmd, airflow_env, start_process_group, stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CONN_TYPE = "bulk_fetch"
START_TIMEOUT = 120.0
SERVER_ARGS = ("--workers", "1", "--apps", "core")
# hook_meta's names for the standard connection fields (``schema`` is ``url_schema`` in the API model)
STANDARD_FIELDS = {
    "host": "host",
    "schema": "url_schema",
    "port": "port",
    "login": "login",
    "password": "password",
    "description": "description",
}


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _declared() -> dict:
    (entry,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == CONN_TYPE]
    return entry


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("airflow_home_api")
    env = airflow_env(
        home,
        f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API_AUTH__JWT_SECRET="test-only-secret",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",  # the Test button's endpoint
    )
    migrate = subprocess.run(
        [*airflow_cmd(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=180
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = home / "api-server.log"
    proc = start_process_group(
        [*airflow_cmd(), "api-server", *("--host", "127.0.0.1", "--port", str(port)), *SERVER_ARGS],
        env=env,
        log_path=log_path,
    )
    try:
        started = time.monotonic()
        deadline = started + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"api-server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            with contextlib.suppress(OSError):
                if _get(f"{base}/api/v2/monitor/health", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"api-server not healthy after {START_TIMEOUT:.0f}s:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(0.25)
        print(f"api-server ready in {time.monotonic() - started:.1f}s")
        yield base
    finally:
        stop_process_group(proc, grace_seconds=20)


@pytest.fixture(scope="module")
def hook_meta(api_server: str) -> dict:
    status, body = _get(f"{api_server}/ui/connections/hook_meta")
    assert status == 200, body[:2000]
    entries = {entry["connection_type"]: entry for entry in json.loads(body)}
    assert CONN_TYPE in entries, f"{CONN_TYPE} missing; types served: {sorted(entries)}"
    return entries[CONN_TYPE]


def test_connection_type_is_listed(hook_meta: dict) -> None:
    declared = _declared()
    assert hook_meta["hook_name"] == declared["hook-name"] == "Bulk Fetch API"
    assert hook_meta["hook_class_name"] == declared["hook-class-name"]


def test_standard_fields_hidden_relabeled_and_placeholders(hook_meta: dict) -> None:
    behaviour = _declared()["ui-field-behaviour"]
    hidden = set(behaviour.get("hidden-fields", []))
    relabel = behaviour.get("relabeling", {})
    placeholders = behaviour.get("placeholders", {})
    served = hook_meta["standard_fields"]
    assert served is not None
    for field, api_name in STANDARD_FIELDS.items():
        expected_any = field in hidden or field in relabel or field in placeholders
        got = served.get(api_name)
        if not expected_any:
            assert got is None, f"{field}: nothing declared but the API serves {got}"
            continue
        assert got is not None, f"{field}: declared in ui-field-behaviour but not served"
        assert got["hidden"] is (field in hidden), field
        assert got["title"] == relabel.get(field), field
        assert got["placeholder"] == placeholders.get(field), field

    # the contract from the provider issue: host is the base URL, password the API token
    assert served["host"]["title"] and "url" in served["host"]["title"].lower()
    assert served["password"]["title"] and "token" in served["password"]["title"].lower()
    assert not served["host"]["hidden"] and not served["password"]["hidden"]


def test_extra_fields_match_conn_fields(hook_meta: dict) -> None:
    declared = _declared()["conn-fields"]
    served = hook_meta["extra_fields"] or {}
    assert set(served) == set(declared)
    public_contract = {
        "auth_type",
        "auth_name",
        "rate_limit_requests",
        "rate_limit_period_seconds",
        "max_concurrency",
        "timeout_seconds",
        "headers",
        "verify_ssl",
        # auth_type oauth2_client_credentials (issue 24)
        "oauth2_url",
        "oauth2_scope",
        "oauth2_audience",
        "oauth2_client_auth",
        "oauth2_params",
    }
    assert public_contract <= set(served), public_contract - set(served)
    for name, field in declared.items():
        got = served[name]
        schema = field.get("schema", {})
        assert got["schema"].get("title") == field.get("label"), name
        assert got["description"] == field.get("description"), name
        assert got["schema"].get("type") == schema.get("type"), name
        assert got["schema"].get("enum") == schema.get("enum"), name
        assert got["value"] == schema.get("default"), name
    assert served["auth_type"]["schema"]["enum"] == [
        "header",
        "query",
        "bearer",
        "basic",
        "oauth2_client_credentials",
        "none",
    ]
    assert served["oauth2_client_auth"]["schema"]["enum"] == ["client_secret_basic", "client_secret_post"]
    assert served["oauth2_client_auth"]["value"] == "client_secret_basic"
    for name in ("oauth2_url", "oauth2_scope", "oauth2_audience", "oauth2_params"):
        assert served[name]["value"] is None, name  # nothing pre-filled
        assert "oauth2_client_credentials" in served[name]["description"], name
    assert "client id" in served["auth_type"]["description"]


def test_no_secret_field_leaks_a_default(hook_meta: dict) -> None:
    """The token is the connection's password (which the UI masks), never an extra field with a default."""
    password = hook_meta["standard_fields"]["password"]
    assert password is not None and not password["hidden"] and "token" in password["title"].lower()
    extras = hook_meta["extra_fields"] or {}
    assert len(extras) >= 8  # the checks below have fields to look at
    not_secrets = {"rate_limit_key"}  # the name of a shared rate budget (issue 9), not a credential
    secret_like = [
        n
        for n in extras
        if n not in not_secrets and any(w in n.lower() for w in ("token", "secret", "password", "key"))
    ]
    assert secret_like == [], f"extra fields that look like a credential: {secret_like}"
    for name, got in extras.items():
        if got["schema"].get("format") == "password":  # none today; should one appear, it has no default
            assert got["value"] in (None, ""), name
        # a default is a setting (a number, a flag, an enum value or a header name), never a credential
        assert (
            got["value"] is None or isinstance(got["value"], (bool, int, float)) or len(got["value"]) < 40
        ), name


def _post(url: str, body: dict, timeout: float = 60.0) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_test_button_endpoint_validates_and_never_shows_the_token_or_its_temporary_id(api_server):
    """What the UI's Test button gets back (``POST /api/v2/connections/test``; Airflow runs the hook under a
    temporary random connection id): field errors say "this connection", never the token."""
    from airflow_provider_bulk_uploader.testing import running_demo_api

    token = "ui-Test-Secret-91ab"
    with running_demo_api(token=token, auth="header") as demo:
        base = {"connection_id": "my_api", "conn_type": CONN_TYPE, "host": demo.url, "password": token}
        status, body = _post(f"{api_server}/api/v2/connections/test", {**base, "extra": "{}"})
        assert status == 200, body[:2000]
        assert json.loads(body)["status"] is True, body

        bad = {**base, "extra": json.dumps({"rate_limit_requests": token.lower(), "rate_limt_requests": 1})}
        status, body = _post(f"{api_server}/api/v2/connections/test", bad)
        assert status == 200, body[:2000]
        result = json.loads(body)
        assert result["status"] is False
        message = result["message"]
        assert "this connection" in message and "rate_limt_requests" in message, message
        assert token.lower() not in message.lower(), message
        assert "connection '" not in message, message  # no temporary id


def test_the_test_button_with_oauth2_fetches_a_token_and_names_the_step_that_failed(api_server, tmp_path):
    """``auth_type: oauth2_client_credentials`` through the API server's Test endpoint against a real
    authorization server (Authlib): a good client passes both steps; a wrong secret fails step 1 with the
    token URL named and neither secret shown; a test path the API has not fails step 2."""
    from tests.support.oauth2 import running_oauth2_server

    with running_oauth2_server(tmp_path, expires_in=60) as oauth:
        extra = {
            "auth_type": "oauth2_client_credentials",
            "oauth2_url": oauth.token_url,
            "oauth2_scope": "read",
        }
        base = {
            "connection_id": "my_oauth2_api",
            "conn_type": CONN_TYPE,
            "host": oauth.api_url,
            "login": oauth.client_id,
            "password": oauth.client_secret,
            "extra": json.dumps({**extra, "test_path": "/items/1"}),
        }
        status, body = _post(f"{api_server}/api/v2/connections/test", base)
        assert status == 200, body[:2000]
        result = json.loads(body)
        assert result["status"] is True, result
        assert "step 1: access token from" in result["message"] and "step 2: HTTP 200" in result["message"]

        wrong = oauth.client_secret + "-Wrong"
        status, body = _post(f"{api_server}/api/v2/connections/test", {**base, "password": wrong})
        result = json.loads(body)
        assert result["status"] is False, result
        message = result["message"]
        assert message.startswith(f"step 1 of 2 (access token from {oauth.token_url}) failed"), message
        assert "invalid_client" in message and oauth.client_secret.lower() not in message.lower(), message

        missing = {**base, "extra": json.dumps({**extra, "test_path": "/items/none"})}
        status, body = _post(f"{api_server}/api/v2/connections/test", missing)
        result = json.loads(body)
        assert result["status"] is False and "step 2 of 2 failed: HTTP 404" in result["message"], result
        assert not any(s in result["message"] for s in oauth.secrets()), result
