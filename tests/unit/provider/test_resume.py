"""Progress that survives a try, with real Airflow (``dag.test()``: real retries, the real task state store,
the inline triggerer) and the demo API's server log as the judge of what was fetched twice."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulk_uploader.engine.interfaces import StartURL
from airflow_provider_bulk_uploader.exceptions import BulkFetchFailuresError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.storage import checkpoint
from tests.unit.provider.helpers import make_context
from tests.unit.provider.test_dag_runs import run, xcom

pytestmark = [pytest.mark.airflow, pytest.mark.integration]


def manifest_and_records(root: Path, name: str) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """The one ``name`` manifest under ``root``, and the records of the parts it lists."""
    (path,) = root.rglob(name)
    manifest = json.loads(path.read_text())
    records: list[dict[str, Any]] = []
    for part in manifest["parts"]:
        data = (path.parent / part["path"]).read_bytes()
        text = gzip.decompress(data).decode() if part["path"].endswith(".gz") else data.decode()
        records += [json.loads(line) for line in text.splitlines()]
    return path.parent, manifest, records


def item_requests(api: Any, lane: str | None = None) -> list[Any]:
    return [
        r for r in api.requests if r.route == "/items/{id}" and (lane is None or r.query.get("lane") == lane)
    ]


def assert_lane_b_resumed(api: Any, root: Path, backend: str) -> dict[str, Any]:
    """Lane b (ids 60..119) lost its last 35 requests in try 1 and was retried: check the server log and
    the manifest say every unit was fetched once, and the retry sent nothing for a stored unit."""
    lane_b = item_requests(api, "b")
    first, second = lane_b[:60], lane_b[60:]  # try 1 takes every unit once (retry_max_attempts=1)
    stored_in_try_1 = {r.path for r in first if r.status == 200}
    dropped = {r.path for r in first if r.status == 0}
    assert len(stored_in_try_1) == 25 and len(dropped) == 35
    assert [r.status for r in second] == [200] * 35, "try 2 sends exactly the units try 1 did not store"
    assert {r.path for r in second} == dropped
    assert not {r.path for r in second} & stored_in_try_1, "0 requests for stored units"
    served = Counter(r.path for r in item_requests(api) if r.status == 200)
    assert len(served) == 120 and set(served.values()) == {1}, "no unit fetched twice"

    directory, manifest, records = manifest_and_records(root, "manifest-m00001.json")
    assert sorted(r["id"] for r in records) == list(range(60, 120)), "every unit exactly once"
    assert manifest["records"] == 60
    assert manifest["resumed_from_try"] == 1
    assert manifest["units_skipped"] == 25 and manifest["units_fetched"] == 35
    assert manifest["progress_backend"] == backend
    tries = [p.get("try") for p in manifest["parts"]]
    assert tries == sorted(tries) and tries[0] == 1 and tries[-1] == 2, "new parts beside the old ones"
    assert len({p["path"] for p in manifest["parts"]}) == len(manifest["parts"])
    assert not list(directory.glob("_progress*")), "the journal goes once the task finished"
    _, other, other_records = manifest_and_records(root, "manifest-m00000.json")
    assert sorted(r["id"] for r in other_records) == list(range(60))
    assert other["resumed_from_try"] is None and other["units_fetched"] == 60
    return manifest


def test_mapped_retry_resumes_from_the_task_state_store(dags, api, tmp_path):
    api.cutoff.set(after=25, count=35, query="lane=b")
    dag_run, tis = run(dags["it_resume_mapped"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert tis["fetch", 0].try_number == 1 and tis["fetch", 1].try_number == 2
    assert_lane_b_resumed(api, tmp_path, "task state store")
    summary = xcom(dag_run, "fetch", map_index=1)
    assert summary["resumed_from_try"] == 1
    assert (summary["units_skipped"], summary["units_fetched"]) == (25, 35)


def test_without_a_task_state_store_the_journal_gives_the_same_result(dags, api, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "task_state_store", lambda context: None)  # Airflow 3.2
    api.cutoff.set(after=25, count=35, query="lane=b")
    dag_run, tis = run(dags["it_resume_mapped"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert tis["fetch", 1].try_number == 2
    assert_lane_b_resumed(api, tmp_path, "progress journal")


@pytest.mark.parametrize("backend", ["task state store", "progress journal"])
def test_long_quota_wait_defers_then_completes(dags, api, tmp_path, monkeypatch, task_states, backend):
    """The quota runs out after 15 requests with Retry-After 3 s > defer_after_seconds=1: the task goes
    through Airflow's ``deferred`` state (dag.test()'s inline triggerer runs the DateTimeTrigger) and
    resumes from the checkpoint; nothing is fetched twice. Same with the journal (no task state store)."""
    from airflow.utils.state import TaskInstanceState

    if backend == "progress journal":
        monkeypatch.setattr(checkpoint, "task_state_store", lambda context: None)
    states = task_states("it_resume_defer")
    api.cutoff.set(after=15, retry_after=3)
    dag_run, tis = run(dags["it_resume_defer"], run_conf={"store": f"file://{tmp_path}"})
    assert dag_run.state == "success", tis
    assert TaskInstanceState.DEFERRED in states, states
    assert tis["fetch", -1].try_number == 1, "a deferral is not a retry"
    requests = item_requests(api)
    refused = [r for r in requests if r.status == 429]
    assert refused, "the quota did run out"
    served = Counter(r.path for r in requests if r.status == 200)
    assert len(served) == 40 and set(served.values()) == {1}, "0 duplicates"
    _, manifest, records = manifest_and_records(tmp_path, "manifest.json")
    assert sorted(r["id"] for r in records) == list(range(40))
    skipped = manifest["units_skipped"]
    assert 15 <= skipped < 40 and manifest["units_fetched"] == 40 - skipped
    assert manifest["resumed_from_try"] == 1 and manifest["progress_backend"] == backend
    # after the pause: only units that were not stored before it
    first_refusal = requests.index(refused[0])
    before = {r.path for r in requests[:first_refusal] if r.status == 200}
    after = [r for r in requests[first_refusal:] if r.status == 200]
    assert not {r.path for r in after} & before


class FakeTaskStateStore:
    """``context["task_state_store"]``: a dict with the accessor's get/set (JSON round trip, like the DB)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.dumps(value)
        self.writes += 1


def test_rerun_of_a_finished_instance_starts_clean_and_overwrites(api, tmp_path):
    state = FakeTaskStateStore()

    def execute(try_number: int) -> dict[str, Any]:
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/items/{id}",
            ids={"start": 0, "end": 30},
            store=f"file://{tmp_path}",
            retry_max_attempts=1,
            records_per_part=4,
            max_concurrency=2,
        )
        context = make_context(try_number=try_number)
        context["task_state_store"] = state
        return op.execute(context)

    api.cutoff.set(after=10, count=20)
    with pytest.raises(BulkFetchFailuresError):
        execute(1)
    assert state.writes >= 3  # one record per written part
    resumed = execute(2)
    assert resumed["resumed_from_try"] == 1 and resumed["units_skipped"] == 10
    assert resumed["units_fetched"] == 20 and resumed["records"] == 30
    directory, _, records = manifest_and_records(tmp_path, "manifest.json")
    assert sorted(r["id"] for r in records) == list(range(30))
    assert json.loads(state.values[checkpoint.defaults.PROGRESS_STATE_KEY])["finished"] is True

    api.reset()
    clean = execute(3)  # cleared after success: fetch everything again, overwrite
    assert clean["resumed_from_try"] is None and clean["units_skipped"] == 0 and clean["units_fetched"] == 30
    assert len(item_requests(api)) == 30
    _, manifest, records = manifest_and_records(tmp_path, "manifest.json")
    assert sorted(r["id"] for r in records) == list(range(30))
    assert manifest["parts"][0]["path"] == "part-00000.jsonl.gz"
    on_disk = sorted(p.name for p in directory.glob("part-*"))
    assert on_disk == sorted(p["path"] for p in manifest["parts"]), "no part of the earlier run is left"


def test_changed_plan_starts_clean(api, tmp_path):
    state = FakeTaskStateStore()

    def execute(end: int) -> dict[str, Any]:
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/items/{id}",
            ids={"start": 0, "end": end},
            store=f"file://{tmp_path}",
            retry_max_attempts=1,
        )
        context = make_context()
        context["task_state_store"] = state
        return op.execute(context)

    api.cutoff.set(after=5, count=5)
    with pytest.raises(BulkFetchFailuresError):
        execute(10)
    assert execute(12)["units_skipped"] == 0  # other ids: the checkpoint cannot be trusted


def test_xcom_store_has_no_checkpoint(api):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items/{id}", ids=[1, 2], deferrable=True)
    summary = op.execute(make_context())
    assert "resumed_from_try" not in summary and summary["records"] == 2


async def test_old_buffered_records_are_checkpointed_without_waiting_for_a_full_part(tmp_path):
    from airflow_provider_bulk_uploader.storage import ObjectStorageStore, RunMeta

    meta = RunMeta(dag_id="d", task_id="t", run_id="r", map_index=-1, interval=None, partition="p")
    store = ObjectStorageStore(f"file://{tmp_path}", meta, records_per_part=10_000)
    recorded: list[tuple[Any, list[int]]] = []
    store.resume([], lambda part, units: recorded.append((part, units)), checkpoint_every=0)

    def urls(units: range) -> list[StartURL]:
        return [StartURL(f"http://x/{unit}", unit) for unit in units]

    await store.add_batch_from(urls(range(3)), [{"id": i} for i in range(3)])
    await store.add_batch_from(urls(range(3, 5)), [{"id": i} for i in range(3, 5)])
    assert [(part["records"], units) for part, units in recorded] == [(3, [0, 1, 2]), (2, [3, 4])]
