"""Provider metadata for Airflow's ``ProvidersManager`` (entry point ``apache_airflow_provider``).

Airflow 3.3's UI builds the connection form from ``conn-fields`` and ``ui-field-behaviour`` below; the hook's
classmethods are not consulted. Field names are the public contract: they are the keys the hook reads from
the connection's extras.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_bulk_uploader.engine import defaults

CONN_TYPE = "bulk_fetch"
AUTH_TYPES = ("header", "query", "bearer", "basic", "none")


def _conn_fields() -> dict[str, Any]:
    return {
        "auth_type": {
            "label": "Auth type",
            "description": "How the API token (the Password field) is sent: 'header' (header named by "
            "Auth name), 'query' (query parameter named by Auth name), 'bearer' (Authorization: Bearer), "
            "'basic' (Login + Password) or 'none'.",
            "schema": {"type": "string", "enum": list(AUTH_TYPES), "default": "header"},
        },
        "auth_name": {
            "label": "Auth name",
            "description": "Header name (auth_type=header, e.g. X-API-Key) or query parameter name "
            "(auth_type=query, e.g. api_key).",
            "schema": {"type": ["string", "null"], "default": "X-API-Key"},
        },
        "rate_limit_requests": {
            "label": "Rate limit: requests",
            "description": "At most this many requests per rate-limit period, retries included, e.g. 10. "
            "Empty = no limit.",
            "schema": {"type": ["integer", "null"], "minimum": 1},
        },
        "rate_limit_period_seconds": {
            "label": "Rate limit: period (seconds)",
            "description": "Length of the rate-limit window in seconds "
            f"(default {defaults.RATE_LIMIT_PERIOD_SECONDS:g}).",
            "schema": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "default": defaults.RATE_LIMIT_PERIOD_SECONDS,
            },
        },
        "max_concurrency": {
            "label": "Max concurrency",
            "description": f"Requests in flight at once (default {defaults.MAX_CONCURRENCY}).",
            "schema": {"type": ["integer", "null"], "minimum": 1, "default": defaults.MAX_CONCURRENCY},
        },
        "timeout_seconds": {
            "label": "Timeout (seconds)",
            "description": f"Timeout of one attempt in seconds (default {defaults.TIMEOUT_SECONDS:g}).",
            "schema": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "default": defaults.TIMEOUT_SECONDS,
            },
        },
        "headers": {
            "label": "Extra headers (JSON)",
            "description": "JSON object of headers sent with every request, "
            'e.g. {"Accept": "application/json"}.',
            "schema": {"type": ["string", "null"]},
        },
        "verify_ssl": {
            "label": "Verify SSL",
            "description": "Verify the server's TLS certificate (default true).",
            "schema": {"type": ["boolean", "null"], "default": True},
        },
        "test_path": {
            "label": "Test path",
            "description": "Path (relative to the base URL) the Test button GETs, e.g. /health; "
            "empty = the base URL.",
            "schema": {"type": ["string", "null"]},
        },
    }


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow reads at start-up (no heavy imports here)."""
    return {
        "package-name": "airflow-provider-bulk-uploader",
        "name": "Bulk Uploader",
        "description": "Fetch many API records politely (rate limits, retries, nothing lost) and land them "
        "in XCom or object storage.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "Bulk Fetch API",
                "tags": ["protocol"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Bulk Fetch API",
                "python-modules": ["airflow_provider_bulk_uploader.hooks.bulk_fetch"],
            }
        ],
        "operators": [
            {
                "integration-name": "Bulk Fetch API",
                "python-modules": ["airflow_provider_bulk_uploader.operators.bulk_fetch"],
            }
        ],
        "task-decorators": [
            {
                "name": "bulk_fetch",
                "class-name": "airflow_provider_bulk_uploader.decorators.bulk_fetch.bulk_fetch_task",
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_bulk_uploader.hooks.bulk_fetch.BulkFetchHook",
                "hook-name": "Bulk Fetch API",
                "connection-type": CONN_TYPE,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "Base URL", "password": "API token", "login": "Username (basic)"},
                    # Airflow 3.3 shows placeholders of the standard fields only; the extra fields'
                    # descriptions carry their examples.
                    "placeholders": {
                        "host": "https://api.example.com/v1",
                        "password": "token sent as auth_type says",
                        "login": "only for auth_type=basic",
                        "auth_name": "X-API-Key",
                        "headers": '{"Accept": "application/json"}',
                        "rate_limit_requests": "10",
                        "test_path": "/health",
                    },
                },
                "conn-fields": _conn_fields(),
            }
        ],
    }
