"""Where the operator puts records: XCom (small results) or object storage (anything else)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.storage.base import OutputStore, RunMeta, extract_records
from airflow_provider_bulk_uploader.storage.object_storage import ObjectStorageStore, as_object_storage_path
from airflow_provider_bulk_uploader.storage.xcom import (
    DEFAULT_XCOM_MAX_BYTES,
    XCOM_RECORDS_KEY,
    XComStore,
    XComTooLargeError,
)

__all__ = [
    "DEFAULT_XCOM_MAX_BYTES",
    "XCOM_RECORDS_KEY",
    "ObjectStorageStore",
    "OutputStore",
    "RunMeta",
    "XComStore",
    "XComTooLargeError",
    "as_object_storage_path",
    "extract_records",
    "make_store",
]


def make_store(
    spec: Any,
    meta: RunMeta,
    *,
    record_path: str | None = None,
    xcom_max_bytes: int = DEFAULT_XCOM_MAX_BYTES,
    compression: str = "gzip",
    records_per_part: int = defaults.RECORDS_PER_PART,
) -> XComStore | ObjectStorageStore:
    """The store for the operator's ``store`` argument: ``"xcom"`` or an object-storage location."""
    if isinstance(spec, str) and spec.strip().lower() == "xcom":
        return XComStore(max_bytes=xcom_max_bytes, record_path=record_path)
    return ObjectStorageStore(
        spec, meta, compression=compression, records_per_part=records_per_part, record_path=record_path
    )
