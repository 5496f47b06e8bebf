"""Helpers for running the operator without a metadata database (``op.execute(context)``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


@dataclass
class FakeTI:
    """Just enough of a task instance for ``BulkFetchOperator.execute``: identity + ``xcom_push``."""

    task_id: str = "fetch"
    dag_id: str = "unit"
    run_id: str = "manual__2024-01-01T00:00:00+00:00"
    map_index: int = -1
    try_number: int = 1
    xcom: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def make_context(start: datetime | None = None, end: datetime | None = None, **ti: Any) -> dict[str, Any]:
    """A minimal execution context with a data interval (``None`` bounds allowed)."""
    task_instance = FakeTI(**ti)
    return {
        "ti": task_instance,
        "task_instance": task_instance,
        "run_id": task_instance.run_id,
        "data_interval_start": start,
        "data_interval_end": end,
    }
