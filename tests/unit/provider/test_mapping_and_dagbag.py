"""Mapping helpers, interval helpers and the example DAG folder (no metadata database needed)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import (
    Interval,
    coerce_datetime,
    resolve_interval,
    split_interval,
)
from airflow_provider_bulk_uploader.utils.mapping import id_range_kwargs, interval_kwargs, max_map_length
from airflow_provider_bulk_uploader.utils.urls import UrlPlan, coerce_ids

EXAMPLES = Path(__file__).resolve().parents[3] / "dags_examples"
UTC = timezone.utc


def test_example_dags_load_with_zero_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(bag.dags) == {
        "bulk_fetch_daily_records",
        "bulk_fetch_mapped_ids",
        "bulk_fetch_xcom_to_task",
        "bulk_fetch_paginated_daily",
    }


def test_example_dags_serialize():
    """The scheduler and dag.test() work on the serialized DAG: every operator must survive it."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in DagBag(dag_folder=str(EXAMPLES)).dags.values():
        DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


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


def test_url_plan_quotes_placeholders_and_is_lazy():
    chunk = Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    plan = UrlPlan(
        "http://h/api", "/r/{start:%Y%m%d}?until={end}", {"tag": ["a", "b"], "flag": True}, [chunk], None
    )
    assert list(plan) == ["http://h/api/r/20240101?until=2024-01-02T00:00:00%2B00:00&tag=a&tag=b&flag=true"]
    big = UrlPlan("http://h", "items", None, [None], coerce_ids({"start": 0, "end": 10**9}))
    assert len(big) == 10**9 and next(iter(big)) == "http://h/items/0"
    assert list(UrlPlan("http://h", "https://other/x/{id}", None, [None], [1])) == ["https://other/x/1"]


@pytest.mark.parametrize("ids", [{"start": 1}, {"start": 1, "end": 2, "by": 1}, "not a list", 42])
def test_bad_ids(ids):
    with pytest.raises(BulkFetchConfigError, match="ids"):
        coerce_ids(ids)
