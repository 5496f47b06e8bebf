"""utils.mapping: interval_kwargs and id_range_kwargs for dynamic task mapping."""

from __future__ import annotations

from datetime import date

import pytest

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.mapping import id_range_kwargs, interval_kwargs, max_map_length


def test_interval_kwargs_daily_chunks():
    kwargs = interval_kwargs("2024-01-01", "2024-01-08", delta_days=3, store="file:///x")
    assert kwargs == [
        {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-04T00:00:00+00:00", "store": "file:///x"},
        {"start": "2024-01-04T00:00:00+00:00", "end": "2024-01-07T00:00:00+00:00", "store": "file:///x"},
        {"start": "2024-01-07T00:00:00+00:00", "end": "2024-01-08T00:00:00+00:00", "store": "file:///x"},
    ]


def test_interval_kwargs_refuses_more_than_max_map_length():
    assert max_map_length() == 1024
    with pytest.raises(BulkFetchConfigError) as info:
        interval_kwargs(date(2020, 1, 1), date(2024, 1, 1), delta_days=1)
    message = str(info.value)
    assert "1461 mapped task instances, more than max_map_length=1024" in message
    assert "delta_days=2 or more" in message
    assert len(interval_kwargs(date(2020, 1, 1), date(2024, 1, 1), delta_days=2)) == 731
    with pytest.raises(BulkFetchConfigError, match="more than max_map_length=10"):
        interval_kwargs(date(2024, 1, 1), date(2024, 2, 1), limit=10)


def test_interval_kwargs_needs_a_real_interval():
    with pytest.raises(BulkFetchConfigError, match="is None"):
        interval_kwargs(None, None)
    with pytest.raises(BulkFetchConfigError, match="zero length"):
        interval_kwargs("2024-01-01", "2024-01-01")


def test_id_range_kwargs():
    assert id_range_kwargs(1, 11, 4) == [
        {"ids": {"start": 1, "end": 5}},
        {"ids": {"start": 5, "end": 9}},
        {"ids": {"start": 9, "end": 11}},
    ]
    with pytest.raises(BulkFetchConfigError, match=r"2000 mapped task instances.*chunk_size=977 or more"):
        id_range_kwargs(0, 1_000_000, 500)
    with pytest.raises(BulkFetchConfigError, match="chunk_size must be an int >= 1, got 0"):
        id_range_kwargs(0, 10, 0)
