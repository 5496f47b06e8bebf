"""What the operator's stores share: run metadata, record extraction and the ``OutputStore`` protocol."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_provider_bulk_uploader import FetchReport, redact, redact_url
from airflow_provider_bulk_uploader.engine.paths import RecordPathError, records_at
from airflow_provider_bulk_uploader.engine.report import Failure
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import Interval

__all__ = [
    "OutputStore",
    "RecordPathError",
    "RunMeta",
    "extract_records",
    "failure_dicts",
    "report_record_path_failures",
]

#: ``Failure.url`` of a response whose body did not match ``record_path`` (stores see bodies, not URLs).
RECORD_PATH_FAILURE_URL = "(a response body; record_path is applied after the fetch)"


#: The records in one response body at ``record_path`` (the engine's parser: one parser for dotted paths).
extract_records = records_at


@dataclass(frozen=True)
class RunMeta:
    """Where a fetch belongs: used for deterministic output names and the manifest.

    :param partition: directory name for this run's output (the interval token, or ``run_id=...``).
    :param map_index: the mapped task instance's index, ``-1`` when the task is not mapped.
    """

    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int
    interval: Interval | None
    partition: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "map_index": self.map_index,
            "interval": self.interval.to_dict() if self.interval else None,
        }


class OutputStore(Protocol):
    """An engine store (``add``/``add_batch``/``flush``/``saved_data``) that also reports its output."""

    def add(self, item: Any) -> None: ...

    def saved_data(self) -> Any: ...

    def finalize(self, report: FetchReport) -> dict[str, Any]:
        """Called once after the run: write what is left (failures, manifest) and describe the output."""
        ...


def iter_records(
    items: Iterable[Any], record_path: str | None, mismatches: list[str] | None = None
) -> list[Any]:
    """All records of a batch of response bodies (see :func:`extract_records`).

    :param mismatches: when given, a body that does not match ``record_path`` is skipped and the reason
        appended here (for :func:`report_record_path_failures`) instead of raising :class:`RecordPathError`.
    """
    if record_path is None:
        return list(items)
    out: list[Any] = []
    for item in items:
        try:
            out.extend(records_at(item, record_path))
        except RecordPathError as exc:
            if mismatches is None:
                raise
            mismatches.append(str(exc))
    return out


def report_record_path_failures(report: FetchReport, mismatches: list[str]) -> None:
    """Count each response whose body did not match ``record_path`` as a failed request of ``report``
    (moved from ``succeeded`` to ``failed``, with the reason), so ``max_failures`` and the failure report
    see it; empties ``mismatches``."""
    for message in mismatches:
        report.succeeded -= 1
        report.failed += 1
        report.failures.append(Failure(url=RECORD_PATH_FAILURE_URL, status=None, error=message, attempts=1))
    mismatches.clear()


def failure_dicts(report: FetchReport, limit: int | None = None) -> list[dict[str, Any]]:
    """The report's failures as JSON-safe dicts, redacted again (defence in depth); first ``limit`` only."""
    failures = report.failures if limit is None else report.failures[:limit]
    out: list[dict[str, Any]] = []
    for f in failures:
        item: dict[str, Any] = {
            "url": redact_url(f.url),
            "status": f.status,
            "error": redact(str(f.error)),
            "attempts": f.attempts,
        }
        if f.method is not None:  # a request other than a plain GET
            item["method"] = f.method
        if f.ids is not None:  # a batch lookup's chunk: the ids it carried
            item["ids"] = list(f.ids)
        if f.stream is not None:  # a page of a paginated stream
            item["stream"] = redact_url(f.stream)
            item["stream_incomplete"] = f.stream_incomplete
        out.append(item)
    return out


def check_record_path(record_path: Any) -> str | None:
    """Validate the operator's ``record_path`` argument."""
    if record_path is None or isinstance(record_path, str):
        return record_path
    raise BulkFetchConfigError(
        f"record_path must be None, '.' or a dotted key path string, got {record_path!r}"
    )
