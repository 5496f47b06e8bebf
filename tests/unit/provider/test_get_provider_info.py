"""get_provider_info(): the connection form as declared and as ProvidersManager reads it."""

from __future__ import annotations

from airflow_provider_bulk_uploader.get_provider_info import get_provider_info


def test_provider_info_declares_connection_form():
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-bulk-uploader"
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "bulk_fetch"
    assert conn["hook-class-name"].endswith("hooks.bulk_fetch.BulkFetchHook")
    fields = conn["conn-fields"]
    for name in (
        "auth_type",
        "auth_name",
        "rate_limit_requests",
        "rate_limit_period_seconds",
        "max_concurrency",
        "timeout_seconds",
        "headers",
        "verify_ssl",
    ):
        assert "type" in fields[name]["schema"], name
    assert fields["auth_type"]["schema"]["enum"] == [
        "header",
        "query",
        "bearer",
        "basic",
        "oauth2_client_credentials",
        "none",
    ]
    for name in ("oauth2_url", "oauth2_scope", "oauth2_audience", "oauth2_client_auth", "oauth2_params"):
        assert "type" in fields[name]["schema"] and "oauth2_client_credentials" in fields[name]["description"]
    assert fields["oauth2_client_auth"]["schema"]["enum"] == ["client_secret_basic", "client_secret_post"]
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"]["host"] == "Base URL"
    assert behaviour["relabeling"]["password"] == "API token / client secret"
    assert "client id" in behaviour["relabeling"]["login"]
    assert {"schema", "port"} <= set(behaviour["hidden-fields"])


def test_providers_manager_accepts_the_form():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    assert "airflow-provider-bulk-uploader" in pm.providers
    behaviours = pm.field_behaviours
    assert behaviours["bulk_fetch"]["relabeling"]["host"] == "Base URL"
    assert "extra__bulk_fetch__auth_type" in pm.connection_form_widgets
