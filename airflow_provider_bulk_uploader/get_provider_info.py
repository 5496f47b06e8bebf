"""Provider metadata for Airflow's ``ProvidersManager`` (entry point ``apache_airflow_provider``).

Airflow 3.3's UI builds the connection form from ``conn-fields`` and ``ui-field-behaviour`` below; the hook's
classmethods are not consulted. Field names are the public contract: they are the keys the hook reads from
the connection's extras.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_bulk_uploader.utils.extras import AUTH_TYPES, CONN_TYPE, conn_fields

__all__ = ["AUTH_TYPES", "CONN_TYPE", "get_provider_info"]


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
                    "relabeling": {
                        "host": "Base URL",
                        "password": "API token / client secret",
                        "login": "Username (basic) / client id (OAuth2)",
                    },
                    # Airflow 3.3's form renders placeholders of the standard fields only (checked on
                    # 3.3.2), so extra fields have none: their descriptions carry the examples.
                    "placeholders": {
                        "host": "https://api.example.com/v1",
                        "password": "token sent as auth_type says (OAuth2: the client secret)",
                        "login": "auth_type basic: user name; oauth2_client_credentials: client id",
                    },
                },
                # one row per extra in utils/extras.py: the same table the hook validates with
                "conn-fields": conn_fields(),
            }
        ],
    }
