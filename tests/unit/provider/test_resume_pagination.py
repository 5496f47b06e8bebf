"""A page position is a unit of progress: paginated runs resume on retry and defer long quota waits, with
real Airflow (``dag.test()``: real retries, the real task state store, the inline triggerer) and the demo
API's server log (``/pages/{style}``, cut off with its ``/_cutoff`` switch) as the judge of what was fetched
twice."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from airflow_provider_bulk_uploader.exceptions import BulkFetchFailuresError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.storage import checkpoint
from tests.unit.provider.helpers import make_context
from tests.unit.provider.test_dag_runs import run, xcom
from tests.unit.provider.test_resume import FakeTaskStateStore, manifest_and_records

pytestmark = [pytest.mark.airflow, pytest.mark.integration]

DAY_1, DAY_2 = "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00"
PER_DAY = 144  # one record every 600 s
PAGES_PER_DAY = 15  # 10 records a page
CURSOR = {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}


def page_requests(api: Any, day: str | None = None) -> list[Any]:
    return [
        r
        for r in api.requests
        if r.route == "/pages/{style}" and (day is None or r.query.get("start") == day)
    ]


def page_key(request: Any) -> tuple[str, str, str]:
    """What identifies a page of a stream: the day and the cursor / offset."""
    q = request.query
    return (q["start"], q.get("cursor", ""), q.get("offset", ""))


def assert_every_record_once(root: Any, days: int) -> dict[str, Any]:
    _, manifest, records = manifest_and_records(root, "manifest.json")
    ids = [r["id"] for r in records]
    assert len(ids) == days * PER_DAY and len(set(ids)) == len(ids), "every record exactly once"
    assert manifest["records"] == days * PER_DAY
    return manifest


@pytest.mark.parametrize("backend", ["task state store", "progress journal"])
def test_cursor_stream_cut_off_mid_way_continues_at_its_next_cursor(
    dags, api, tmp_path, monkeypatch, backend
):
    if backend == "progress journal":
        monkeypatch.setattr(checkpoint, "task_state_store", lambda context: None)  # Airflow 3.2
    api.cutoff.set(after=7, count=1, query=f"start={DAY_2}")  # day 2: page 8 dropped once
    dag_run, tis = run(dags["it_resume_pages_cursor"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert tis["fetch", -1].try_number == 2

    day_1, day_2 = page_requests(api, DAY_1), page_requests(api, DAY_2)
    assert len(day_1) == PAGES_PER_DAY, "try 2 sent nothing for the stream try 1 completed"
    first, second = day_2[:8], day_2[8:]  # try 1: pages 1..7 stored, page 8 dropped
    assert [r.status for r in first] == [200] * 7 + [0]
    assert len(second) == PAGES_PER_DAY - 7 and {r.status for r in second} == {200}
    assert page_key(second[0]) == page_key(first[-1]), "try 2 starts at the page try 1 lost"
    assert not {page_key(r) for r in second} & {page_key(r) for r in first[:7]}, "0 requests for stored pages"
    served = Counter(page_key(r) for r in page_requests(api) if r.status == 200)
    assert len(served) == 2 * PAGES_PER_DAY and set(served.values()) == {1}

    manifest = assert_every_record_once(tmp_path, days=2)
    assert manifest["resumed_from_try"] == 1 and manifest["progress_backend"] == backend
    assert manifest["units_skipped"] == 1 and manifest["units_fetched"] == 1  # day 1 skipped, day 2 finished
    assert manifest["pages_skipped"] == 7 and manifest["pages_fetched"] == PAGES_PER_DAY - 7
    assert manifest["report"]["pages"] == PAGES_PER_DAY - 7  # this try's
    assert {p["try"] for p in manifest["parts"]} == {1, 2}, "new parts beside the old ones"
    summary = xcom(dag_run, "fetch")
    assert summary["pages_skipped"] == 7 and summary["resumed_from_try"] == 1


def test_offset_fan_out_retry_fetches_only_the_missing_pages(dags, api, tmp_path):
    api.cutoff.set(after=5, count=3, query=f"start={DAY_2}")  # day 2: 3 fanned-out pages dropped once
    dag_run, tis = run(dags["it_resume_pages_offset"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert tis["fetch", -1].try_number == 2

    day_1, day_2 = page_requests(api, DAY_1), page_requests(api, DAY_2)
    assert len(day_1) == PAGES_PER_DAY, "try 2 sent nothing for the stream try 1 completed"
    first, second = day_2[:PAGES_PER_DAY], day_2[PAGES_PER_DAY:]  # try 1 asks for every page once
    dropped = {page_key(r) for r in first if r.status == 0}
    assert len(dropped) == 3 and ("", "") not in {k[1:] for k in dropped}  # the first page was served
    assert len(second) == 3 and {r.status for r in second} == {200}
    assert {page_key(r) for r in second} == dropped, "0 requests for stored pages"
    served = Counter(page_key(r) for r in page_requests(api) if r.status == 200)
    assert len(served) == 2 * PAGES_PER_DAY and set(served.values()) == {1}

    manifest = assert_every_record_once(tmp_path, days=2)
    assert manifest["resumed_from_try"] == 1
    assert manifest["pages_skipped"] == PAGES_PER_DAY - 3 and manifest["pages_fetched"] == 3
    assert (manifest["units_skipped"], manifest["units_fetched"]) == (1, 1)


def test_long_quota_wait_in_the_middle_of_a_stream_defers_then_completes(dags, api, tmp_path, task_states):
    """The quota runs out after 6 pages with Retry-After 3 s > defer_after_seconds=1: the task goes through
    Airflow's ``deferred`` state (dag.test()'s inline triggerer runs the DateTimeTrigger), resumes at the
    stream's next cursor, and no page is fetched twice."""
    from airflow.utils.state import TaskInstanceState

    states = task_states("it_resume_pages_defer")
    api.cutoff.set(after=6, retry_after=3)
    dag_run, tis = run(dags["it_resume_pages_defer"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert TaskInstanceState.DEFERRED in states, states
    assert tis["fetch", -1].try_number == 1, "a deferral is not a retry"
    requests = page_requests(api)
    refused = [r for r in requests if r.status == 429]
    assert len(refused) == 1, "the run stopped at the first 429 instead of sitting the pause out"
    served = Counter(page_key(r) for r in requests if r.status == 200)
    assert len(served) == PAGES_PER_DAY and set(served.values()) == {1}, "0 duplicates"
    assert page_key(requests[requests.index(refused[0]) + 1]) == page_key(refused[0]), "resumed at it"
    manifest = assert_every_record_once(tmp_path, days=1)
    assert manifest["pages_skipped"] == 6 and manifest["pages_fetched"] == PAGES_PER_DAY - 6


def test_rerun_of_a_finished_paginated_instance_starts_clean(api, tmp_path):
    state = FakeTaskStateStore()

    def execute(try_number: int) -> dict[str, Any]:
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/pages/cursor",
            query_params={"n": 100, "size": 10},
            pagination=CURSOR,
            record_path="data",
            store=f"file://{tmp_path}",
            retry_max_attempts=1,
            records_per_part=20,
        )
        context = make_context(try_number=try_number)
        context["task_state_store"] = state
        return op.execute(context)

    api.cutoff.set(after=4, count=1)
    with pytest.raises(BulkFetchFailuresError):
        execute(1)
    resumed = execute(2)
    assert resumed["resumed_from_try"] == 1 and resumed["pages_skipped"] == 4
    assert resumed["pages_fetched"] == 6 and resumed["records"] == 100
    assert len(page_requests(api)) == 5 + 6
    assert json.loads(state.values[checkpoint.defaults.PROGRESS_STATE_KEY])["finished"] is True

    api.reset()
    clean = execute(3)  # cleared after success: every page again, the parts overwritten
    assert clean["resumed_from_try"] is None and clean["pages_skipped"] == 0 and clean["pages_fetched"] == 10
    assert len(page_requests(api)) == 10
    directory, manifest, records = manifest_and_records(tmp_path, "manifest.json")
    assert sorted(r["id"] for r in records) == list(range(100))
    assert sorted(p.name for p in directory.glob("part-*")) == sorted(p["path"] for p in manifest["parts"])


def test_changed_pagination_starts_clean(api, tmp_path):
    state = FakeTaskStateStore()

    def execute(size: int, **pagination: Any) -> dict[str, Any]:
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/pages/cursor",
            query_params={"n": 100, "size": size},
            pagination={**CURSOR, **pagination},
            record_path="data",
            store=f"file://{tmp_path}",
            retry_max_attempts=1,
        )
        context = make_context()
        context["task_state_store"] = state
        return op.execute(context)

    api.cutoff.set(after=4, count=1)
    with pytest.raises(BulkFetchFailuresError):
        execute(10)
    assert execute(10, max_pages=20)["pages_skipped"] == 0  # another paginator: the checkpoint is not used
