"""Dynamic task mapping helpers: one mapped ``BulkFetchOperator`` task instance per chunk.

Use from a ``@task`` that runs at DAG-run time (so it sees the run's data interval)::

    @task
    def chunks(data_interval_start=None, data_interval_end=None):
        return interval_kwargs(data_interval_start, data_interval_end, delta_days=1)

    BulkFetchOperator.partial(task_id="fetch", endpoint="/records?start={start}&end={end}",
                              store="file:///data/records").expand_kwargs(chunks())

With the Celery or Kubernetes executor each mapped instance can run on a different worker.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_bulk_uploader.engine.validation import require_int
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import resolve_interval, split_interval

__all__ = ["id_range_kwargs", "interval_kwargs", "max_map_length"]

DEFAULT_MAX_MAP_LENGTH = 1024


def max_map_length() -> int:
    """Airflow's ``[core] max_map_length`` (default 1024): the most mapped instances one task may have."""
    try:
        from airflow.sdk.configuration import conf

        return conf.getint("core", "max_map_length", fallback=DEFAULT_MAX_MAP_LENGTH)
    except Exception:  # config not loadable (e.g. docs build): the documented default
        return DEFAULT_MAX_MAP_LENGTH


def _check_length(count: int, limit: int | None, hint: str) -> None:
    limit = max_map_length() if limit is None else limit
    if count > limit:
        raise BulkFetchConfigError(
            f"this would create {count} mapped task instances, more than max_map_length={limit} "
            f"([core] max_map_length); {hint}"
        )


def interval_kwargs(
    start: Any, end: Any, delta_days: int = 1, *, limit: int | None = None, **extra: Any
) -> list[dict[str, Any]]:
    """``[{"start": ISO, "end": ISO, **extra}, ...]``: one dict per ``delta_days`` chunk of ``[start, end)``.

    :param start: interval start (datetime, date or ISO string; typically the run's ``data_interval_start``).
    :param end: interval end, exclusive.
    :param delta_days: chunk length in days (default 1).
    :param limit: maximum number of chunks (default ``[core] max_map_length``, 1024).
    :param extra: more keyword arguments added to every dict (e.g. ``store=...``).
    :raises BulkFetchConfigError: for a missing/empty interval or too many chunks (suggests a larger
        ``delta_days``).
    """
    interval = resolve_interval(None, start, end)
    require_int("delta_days", delta_days, 1, error=BulkFetchConfigError)
    days = (interval.end - interval.start).total_seconds() / 86400
    limit_value = max_map_length() if limit is None else limit
    # checked before materialising: a century with delta_days=1 must not build a huge list first
    _check_length(
        math.ceil(days / delta_days), limit_value, f"use delta_days={math.ceil(days / limit_value)} or more"
    )
    chunks = split_interval(interval, delta_days)
    return [{"start": c.start.isoformat(), "end": c.end.isoformat(), **extra} for c in chunks]


def id_range_kwargs(
    start: int, end: int, chunk_size: int, *, limit: int | None = None, **extra: Any
) -> list[dict[str, Any]]:
    """``[{"ids": {"start": a, "end": b}, **extra}, ...]``: ids ``[start, end)`` in ``chunk_size`` slices.

    Each dict is a compact id range (not a list), so mapping a million ids stays a few KB of XCom.
    :raises BulkFetchConfigError: for bad bounds or when the slices exceed ``max_map_length`` (suggests a
        larger ``chunk_size``).
    """
    require_int("id_range_kwargs start", start, error=BulkFetchConfigError)
    require_int("id_range_kwargs end", end, error=BulkFetchConfigError)
    require_int("id_range_kwargs chunk_size", chunk_size, 1, error=BulkFetchConfigError)
    if end < start:
        raise BulkFetchConfigError(f"id_range_kwargs end ({end}) is before start ({start})")
    count = -(-(end - start) // chunk_size)
    limit_value = max_map_length() if limit is None else limit
    _check_length(count, limit_value, f"use chunk_size={-(-(end - start) // limit_value)} or more")
    return [
        {"ids": {"start": lo, "end": min(lo + chunk_size, end)}, **extra}
        for lo in range(start, end, chunk_size)
    ]
