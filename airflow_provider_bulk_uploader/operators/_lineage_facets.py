"""The ``bulkFetch`` OpenLineage run facet (imported only when the OpenLineage provider is installed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attr
from airflow.providers.common.compat.openlineage.facet import RunFacet

__all__ = ["BulkFetchRunFacet"]


@attr.define
class BulkFetchRunFacet(RunFacet):
    """Request counts of one bulk fetch.

    :param requested: URLs planned.
    :param succeeded: URLs fetched (2xx after retries).
    :param failed: URLs that failed after their retries.
    :param attempts: HTTP attempts, retries included.
    :param records: records written (``None`` when unknown).
    """

    requested: int = attr.field(default=0)
    succeeded: int = attr.field(default=0)
    failed: int = attr.field(default=0)
    attempts: int = attr.field(default=0)
    records: int | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return "https://github.com/airflow-provider-bulk-uploader/schemas/BulkFetchRunFacet.json"

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> BulkFetchRunFacet:
        """The facet for the operator's XCom summary."""
        return cls(
            requested=int(summary.get("requested", 0)),
            succeeded=int(summary.get("succeeded", 0)),
            failed=int(summary.get("failed", 0)),
            attempts=int(summary.get("attempts", 0)),
            records=summary.get("records"),
        )
