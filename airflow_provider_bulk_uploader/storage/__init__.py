"""Where the operator puts records: XCom (small results) or object storage (anything else)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bulk_uploader.engine.observe import RunObserver
from airflow_provider_bulk_uploader.storage.base import OutputStore, RunMeta, extract_records
from airflow_provider_bulk_uploader.storage.object_storage import ObjectStorageStore, as_object_storage_path
from airflow_provider_bulk_uploader.storage.options import StoreOptions
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
    "StoreOptions",
    "XComStore",
    "XComTooLargeError",
    "as_object_storage_path",
    "extract_records",
    "make_store",
]


def make_store(
    location: Any, meta: RunMeta, options: StoreOptions | None = None, *, observer: RunObserver | None = None
) -> XComStore | ObjectStorageStore:
    """The store for the operator's ``store`` argument: ``"xcom"`` or an object-storage location
    (``observer``: told of each part an object store writes; the XCom store's records are stored when the
    operator pushes them)."""
    o = options or StoreOptions()
    if isinstance(location, str) and location.strip().lower() == "xcom":
        return XComStore(max_bytes=o.xcom_max_bytes, record_path=o.record_path)
    return ObjectStorageStore(
        location,
        meta,
        compression=o.compression,
        records_per_part=o.records_per_part,
        record_path=o.record_path,
        observer=observer,
    )
