"""utils.urls: the URL plan and ids."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

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


# ---- UrlPlan.fingerprint(): what a progress checkpoint is keyed by ----------------------------------------

DAY = Interval(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
NEXT_DAY = Interval(datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC))
PLAN_ARGS: dict[str, Any] = {
    "base_url": "http://h/api",
    "endpoint": "/r/{id}?day={start:%Y%m%d}",
    "query_params": {"tag": ["a", "b"], "flag": True},
    "chunks": [DAY],
    "ids": range(0, 100),
}


def _fingerprint(**changes: Any) -> str:
    return UrlPlan(**{**PLAN_ARGS, **changes}).fingerprint()


def test_the_fingerprint_is_stable_across_instances_and_processes():
    """Another try of the task runs in another process: the value must not depend on ``hash()`` (salted per
    process) or on object identity. A change of this literal means every checkpoint written before it is
    ignored (its task starts clean): change it only on purpose."""
    assert _fingerprint() == _fingerprint() == UrlPlan(**PLAN_ARGS).fingerprint()
    assert _fingerprint() == "ee246aeac3ea7514de1bbe7e6f8a4859"


@pytest.mark.parametrize(
    "changes",
    [
        {"ids": range(0, 101)},
        {"ids": range(1, 101)},  # as many ids, other ones
        {"ids": [str(i) for i in range(99)]},
        {"ids": None, "endpoint": "/r?day={start:%Y%m%d}"},
        {"endpoint": "/s/{id}?day={start:%Y%m%d}"},
        {"base_url": "http://other/api"},
        {"query_params": {"tag": ["a"], "flag": True}},
        {"query_params": {"tag": ["a", "b"], "flag": False}},
        {"query_params": {"tag": ["a", "b"]}},
        {"chunks": [NEXT_DAY]},
        {"chunks": [DAY, NEXT_DAY]},
    ],
    ids=lambda c: ",".join(c),
)
def test_the_fingerprint_changes_with_what_decides_the_urls(changes):
    assert _fingerprint(**changes) != _fingerprint()


def test_the_fingerprint_ignores_how_the_same_plan_was_written():
    assert _fingerprint(query_params={"flag": True, "tag": ["a", "b"]}) == _fingerprint()  # key order
    assert _fingerprint(ids=list(range(3))) == _fingerprint(ids=["0", "1", "2"])  # ids as written in a URL
