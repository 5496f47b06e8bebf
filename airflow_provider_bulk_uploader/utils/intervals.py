"""Data intervals for the operator: resolve the interval to fetch, split it into chunks, name it.

Airflow 3 facts this module turns into clear errors instead of silent empty fetches:

* a manual run with no logical date has ``data_interval_start``/``data_interval_end`` = ``None``;
* ``schedule="@daily"`` (and any cron string) uses ``CronTriggerTimetable``, whose runs have a
  *zero-length* interval (start == end). Use ``CronDataIntervalTimetable(cron, timezone)`` or
  ``DeltaDataIntervalTimetable`` to get ``[previous run, this run)`` intervals, or pass ``start``/``end``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_bulk_uploader import days_intervals
from airflow_provider_bulk_uploader.engine.validation import require_int
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

__all__ = [
    "Interval",
    "IsoDatetime",
    "coerce_datetime",
    "resolve_interval",
    "split_interval",
]

_FIX = (
    "Give the DAG a timetable with real data intervals, e.g. "
    "schedule=CronDataIntervalTimetable('0 0 * * *', timezone='UTC') (from airflow.sdk) or "
    "DeltaDataIntervalTimetable(timedelta(days=1)), trigger it with a logical date "
    "(airflow dags trigger --logical-date ..., or a backfill), or pass start=... and end=... to the operator."
)


class IsoDatetime(datetime):
    """A ``datetime`` whose ``str()`` is ISO 8601 (``2024-01-01T00:00:00+00:00``).

    Used to fill ``{start}``/``{end}`` placeholders: ``{start}`` gives ISO 8601, and a format spec
    still works, e.g. ``{start:%Y-%m-%d}``.
    """

    def __str__(self) -> str:
        return self.isoformat()

    @classmethod
    def of(cls, value: datetime) -> IsoDatetime:
        return cls(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
            fold=value.fold,
        )


@dataclass(frozen=True)
class Interval:
    """A half-open interval ``[start, end)`` of timezone-aware datetimes."""

    start: datetime
    end: datetime

    def token(self) -> str:
        """A file-name-safe, deterministic name: ``20240101T000000Z_20240102T000000Z`` (UTC)."""
        return f"{_compact(self.start)}_{_compact(self.end)}"

    def to_dict(self) -> dict[str, str]:
        """``{"start": ISO 8601, "end": ISO 8601}`` (JSON-safe)."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def _compact(value: datetime) -> str:
    utc = value.astimezone(timezone.utc)
    text = utc.strftime("%Y%m%dT%H%M%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def coerce_datetime(name: str, value: Any) -> datetime | None:
    """``value`` as an aware datetime, or ``None`` for ``None``/``""``.

    Accepts ``datetime`` (naive = UTC), ``date`` (midnight UTC) and ISO 8601 strings (a trailing ``Z`` is
    fine). Raises :class:`BulkFetchConfigError` naming ``name`` otherwise.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise BulkFetchConfigError(
                f"{name} must be an ISO 8601 date or datetime (e.g. 2024-01-01T00:00:00+00:00), got {value!r}"
            ) from None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise BulkFetchConfigError(f"{name} must be a datetime, a date or an ISO 8601 string, got {value!r}")


def resolve_interval(context: Mapping[str, Any] | None, start: Any = None, end: Any = None) -> Interval:
    """The interval to fetch: explicit ``start``/``end`` win, else the run's data interval.

    :raises BulkFetchConfigError: when either bound is missing (a manual run without a logical date), when
        the interval is empty (``"@daily"``-style ``CronTriggerTimetable`` runs) or when ``end < start``;
        the message says which and how to fix it.
    """
    context = context or {}
    explicit_start = coerce_datetime("start", start)
    explicit_end = coerce_datetime("end", end)
    run_start = coerce_datetime("data_interval_start", context.get("data_interval_start"))
    run_end = coerce_datetime("data_interval_end", context.get("data_interval_end"))
    lo = explicit_start or run_start
    hi = explicit_end or run_end
    if lo is None or hi is None:
        missing = " and ".join(n for n, v in (("start", lo), ("end", hi)) if v is None)
        raise BulkFetchConfigError(
            f"No data interval to fetch: {missing} not given and the run's "
            f"data_interval_{'start' if lo is None else 'end'} is None "
            f"(a manual run without a logical date has no data interval in Airflow 3). {_FIX}"
        )
    if hi < lo:
        raise BulkFetchConfigError(f"end ({hi.isoformat()}) is before start ({lo.isoformat()})")
    if hi == lo:
        source = "start/end" if explicit_start and explicit_end else "the run's data interval"
        raise BulkFetchConfigError(
            f"The interval to fetch is empty: {source} is [{lo.isoformat()}, {hi.isoformat()}) "
            "(zero length). "
            "Under Airflow 3 a cron schedule such as '@daily' uses CronTriggerTimetable, whose runs have "
            f"data_interval_start == data_interval_end. {_FIX}"
        )
    return Interval(lo, hi)


def split_interval(interval: Interval, delta_days: int = 1) -> list[Interval]:
    """``interval`` cut into consecutive chunks of ``delta_days`` days (the last one clipped).

    An hourly interval with ``delta_days=1`` stays one chunk; a weekly one gives 7.
    """
    require_int("delta_days", delta_days, 1, error=BulkFetchConfigError)
    return [Interval(lo, hi) for lo, hi in days_intervals(interval.start, interval.end, delta_days)]
