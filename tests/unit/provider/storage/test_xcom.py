"""store='xcom': the size cap."""

from __future__ import annotations

import pytest

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.storage import XComTooLargeError
from tests.unit.provider.helpers import make_context


def test_xcom_store_refuses_large_results(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/items/{id}", ids={"start": 0, "end": 50}, xcom_max_bytes=500
    )
    with pytest.raises(XComTooLargeError, match=r"exceed xcom_max_bytes=500 bytes.*object storage"):
        op.execute(make_context())
