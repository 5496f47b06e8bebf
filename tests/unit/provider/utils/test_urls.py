"""utils.urls: the URL plan and ids."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError
from airflow_provider_bulk_uploader.utils.intervals import (
    Interval,
)
from airflow_provider_bulk_uploader.utils.urls import UrlPlan, coerce_ids

UTC = timezone.utc


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
