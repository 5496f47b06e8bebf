"""utils.intervals: splitting, coercing and resolving data intervals."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import (
    Interval,
    coerce_datetime,
    resolve_interval,
    split_interval,
)

UTC = timezone.utc


def test_split_interval_clips_the_last_chunk_and_keeps_short_intervals_whole():
    week = Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 8, tzinfo=UTC))
    assert len(split_interval(week, 1)) == 7
    assert split_interval(week, 5)[-1].start == datetime(2024, 1, 6, tzinfo=UTC)
    hour = Interval(datetime(2024, 1, 1, 5, tzinfo=UTC), datetime(2024, 1, 1, 6, tzinfo=UTC))
    assert split_interval(hour, 1) == [hour]
    assert hour.token() == "20240101T050000Z_20240101T060000Z"


def test_coerce_and_resolve():
    assert coerce_datetime("start", "2024-01-01T00:00:00Z") == datetime(2024, 1, 1, tzinfo=UTC)
    assert coerce_datetime("start", date(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(
        BulkFetchConfigError, match=r"start must be an ISO 8601 date or datetime.*'yesterday'"
    ):
        coerce_datetime("start", "yesterday")
    with pytest.raises(BulkFetchConfigError, match=r"end \(2024-01-01T00:00:00\+00:00\) is before start"):
        resolve_interval({}, "2024-01-02", "2024-01-01")
    ctx = {"data_interval_start": datetime(2024, 1, 1, tzinfo=UTC), "data_interval_end": None}
    assert resolve_interval(ctx, None, "2024-01-03").end == datetime(2024, 1, 3, tzinfo=UTC)
