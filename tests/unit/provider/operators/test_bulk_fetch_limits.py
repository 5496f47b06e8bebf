"""The operator's limits observed at the demo API: what arrives per window, what is in flight, what times out.

The session's demo API allows 2000 requests/s and the connection sets no limit, so every bound seen here
comes from the task's own arguments.
"""

from __future__ import annotations

import pytest

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.testing import max_in_window
from tests.unit.provider.helpers import make_context


def test_rate_limit_requests_and_period_hold_at_the_server(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids={"start": 0, "end": 12},
        rate_limit_requests=3,
        rate_limit_period_seconds=0.25,
    )
    summary = op.execute(make_context())
    assert summary["succeeded"] == 12
    assert len(api.arrivals) == 12
    assert max_in_window(api.arrivals, 0.25) <= 3  # 3 per 0.25 s, retries included
    # ...and the period is 0.25 s, not the default 1 s (which would allow only 3 in any second)
    assert max_in_window(api.arrivals, 1.0) >= 6


def test_max_concurrency_bounds_what_is_in_flight_at_the_server(api):
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/slow?ms=150&i={id}", ids={"start": 0, "end": 12}, max_concurrency=3
    )
    summary = op.execute(make_context())
    assert summary["succeeded"] == 12
    assert api.stats.max_in_flight == 3  # bounded by the task (the connection's default is 64), and used


def test_timeout_seconds_fails_a_slow_route_and_not_a_fast_one(api):
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/slow?ms={id}",
        ids=[20, 1500],  # 20 ms answers within the timeout, 1.5 s does not
        timeout_seconds=0.5,
        retry_max_attempts=1,
        max_failures=1,
    )
    summary = op.execute(make_context())
    assert (summary["succeeded"], summary["failed"]) == (1, 1)
    (failure,) = summary["failures"]
    assert failure["url"].endswith("/slow?ms=1500") and failure["status"] is None
    assert "timeout" in failure["error"].lower()


@pytest.mark.parametrize("value", [0, -1, "x"])
def test_bad_limit_overrides_name_the_argument(api, value):
    from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

    for name in ("rate_limit_period_seconds", "timeout_seconds"):  # at construction: when the DAG is parsed
        with pytest.raises(BulkFetchConfigError, match=rf"operator argument '{name}' must be"):
            BulkFetchOperator(task_id="fetch", endpoint="/items", ids=[1], **{name: value})
    assert api.requests == []


def test_the_summary_counts_rejections_and_the_lowest_pace(api):
    """Issue 19: 429s without Retry-After lower the pace (adaptation on by default); the summary XCom says how
    many came and how low the pace went."""
    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/flaky/pace{id}?fails=1&status=429",
        ids={"start": 0, "end": 3},
        rate_limit_requests=10,
        retry_max_attempts=3,
    )
    summary = op.execute(make_context())
    assert summary["succeeded"] == 3 and summary["attempts"] == 6
    assert summary["rejections"] == 3
    assert 0 < summary["effective_rate_min"] <= 7.0  # at least one decrease (x 0.7) from 10/s


def test_without_a_rate_limit_the_summary_has_no_pace(api):
    summary = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1, 2]).execute(make_context())
    assert summary["rejections"] == 0 and summary["effective_rate_min"] is None
