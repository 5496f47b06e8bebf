"""How the operator's stores write: :class:`StoreOptions`, validated once (at the operator's construction,
so a bad value fails when the DAG is parsed) and handed to :func:`~.make_store`."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.validation import require_int
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

__all__ = ["COMPRESSIONS", "StoreOptions"]

#: Part file compressions of the object-storage store.
COMPRESSIONS = ("gzip", "none")


@dataclass(frozen=True)
class StoreOptions:
    """The store settings of one fetch.

    :param record_path: where the records are in a response body (``None``: the body is one record; ``"."``:
        it is a list; ``"data.items"``: the list at that dotted path).
    :param xcom_max_bytes: ``store="xcom"``: cap on the JSON size of the records, in bytes (default 1 MiB).
    :param compression: object storage parts: ``"gzip"`` (default) or ``"none"``.
    :param records_per_part: records per object-storage part file (default 10 000).
    """

    record_path: str | None = None
    xcom_max_bytes: int = defaults.XCOM_MAX_BYTES
    compression: str = "gzip"
    records_per_part: int = defaults.RECORDS_PER_PART

    def __post_init__(self) -> None:
        if self.record_path is not None and not isinstance(self.record_path, str):
            raise BulkFetchConfigError(
                f"record_path must be None, '.' or a dotted key path string, got {self.record_path!r}"
            )
        require_int("xcom_max_bytes", self.xcom_max_bytes, 1, error=BulkFetchConfigError)
        if self.compression not in COMPRESSIONS:
            raise BulkFetchConfigError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        require_int("records_per_part", self.records_per_part, 1, error=BulkFetchConfigError)
