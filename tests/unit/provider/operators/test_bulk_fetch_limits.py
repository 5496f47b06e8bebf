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
