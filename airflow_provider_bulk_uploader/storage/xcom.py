"""``store="xcom"``: keep the records in memory and push them as the task's ``records`` XCom."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_bulk_uploader import FetchReport
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.validation import require_int
from airflow_provider_bulk_uploader.exceptions import XComTooLargeError
from airflow_provider_bulk_uploader.storage.base import iter_records, report_record_path_failures

__all__ = ["DEFAULT_XCOM_MAX_BYTES", "XCOM_RECORDS_KEY", "XComStore", "XComTooLargeError"]

#: Default cap on the JSON size of the records pushed to XCom: 1 MiB.
DEFAULT_XCOM_MAX_BYTES = defaults.XCOM_MAX_BYTES
#: XCom key the records are pushed under (the return value is the run summary).
XCOM_RECORDS_KEY = "records"


class XComStore:
    """Collects records for XCom, refusing (and aborting the fetch) once they exceed ``max_bytes``.

    :param max_bytes: cap on the compact-JSON size of all records, in bytes (default 1 MiB). XCom values
        live in the metadata database unless a custom backend (e.g. common-io's
        ``XComObjectStorageBackend``) offloads them; raise the cap only with such a backend.
    :param record_path: see :func:`~airflow_provider_bulk_uploader.storage.base.extract_records`.
    """

    kind = "xcom"

    def __init__(self, max_bytes: int = DEFAULT_XCOM_MAX_BYTES, record_path: str | None = None) -> None:
        self.max_bytes = require_int("xcom_max_bytes", max_bytes, 1, error=ValueError)
        self.record_path = record_path
        self._records: list[Any] = []
        self._mismatches: list[str] = []  # bodies that did not match record_path
        self._size = 2  # "[]"

    def add(self, item: Any) -> None:
        self.add_batch([item])

    def add_batch(self, items: list[Any]) -> None:
        records = iter_records(items, self.record_path, self._mismatches)
        self._size += sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records)
        if self._size > self.max_bytes:
            raise XComTooLargeError(
                f"the fetched records exceed xcom_max_bytes={self.max_bytes} bytes (already "
                f"{len(self._records) + len(records)} records, ~{self._size} bytes). "
                "XCom keeps values in the "
                "metadata database: write them to object storage instead, e.g. "
                "store='file:///data/bulk' or store='s3://aws_default@bucket/prefix', or raise "
                "xcom_max_bytes if a custom XCom backend (common-io's XComObjectStorageBackend) offloads "
                "large values."
            )
        self._records.extend(records)

    def saved_data(self) -> list[Any]:
        return self._records

    @property
    def stored_bytes(self) -> int:
        """The compact JSON size of the records kept, in bytes (what ``xcom_max_bytes`` is checked against,
        less the list's brackets)."""
        return self._size - 2

    def finalize(self, report: FetchReport) -> dict[str, Any]:
        """Describe the output; the operator pushes :meth:`saved_data` under :data:`XCOM_RECORDS_KEY`.
        Bodies that did not match ``record_path`` become failures of ``report``."""
        report_record_path_failures(report, self._mismatches)
        return {"store": self.kind, "xcom_key": XCOM_RECORDS_KEY, "records": len(self._records)}
