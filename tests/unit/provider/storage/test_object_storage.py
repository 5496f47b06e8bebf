"""The object-storage store through the operator: layout, manifest, idempotent reruns, mapped names."""

from __future__ import annotations

import json

from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from tests.support.jsonl import read_jsonl_parts
from tests.unit.provider.helpers import make_context, utc

# -- object storage -----------------------------------------------------------------------------------


def test_object_storage_layout_manifest_and_idempotent_rerun(api, tmp_path):
    def run(records_per_part: int) -> dict:
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/records?start={start}&end={end}",
            record_path=".",
            store=f"file://{tmp_path}/out",
            records_per_part=records_per_part,
        )
        return op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 4)))

    first = run(records_per_part=10)
    directory = tmp_path / "out" / "20240101T000000Z_20240104T000000Z"
    names = sorted(p.name for p in directory.iterdir())
    # a part holds whole responses (24 records a day here), so that a part's units are complete on resume
    assert names == ["manifest.json"] + [f"part-{i:05d}.jsonl.gz" for i in range(3)]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["records"] == 72 and sum(p["records"] for p in manifest["parts"]) == 72
    assert manifest["interval"]["start"] == "2024-01-01T00:00:00+00:00" and manifest["failures"] is None
    assert first["manifest"].endswith("manifest.json") and len(first["paths"]) == 3
    assert first["records"] == 72

    # rerun, bigger parts: same interval -> same directory, stale parts deleted, no duplicates
    second = run(records_per_part=50)
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["manifest.json", "part-00000.jsonl.gz"]
    records = read_jsonl_parts(directory)
    assert len(records) == 72 and len({r["id"] for r in records}) == 72
    assert second["records"] == 72
    assert not list(directory.glob(".*tmp*"))


def test_rerun_with_no_records_clears_old_parts(api, tmp_path):
    def run(ids: list[int]) -> dict:
        op = BulkFetchOperator(task_id="fetch", endpoint="/items", ids=ids, store=f"file://{tmp_path}")
        return op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2)))

    run([1, 2, 3])
    summary = run([])
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert summary["requested"] == 0 and summary["paths"] == []
    assert [p.name for p in directory.iterdir()] == ["manifest.json"]
    assert json.loads((directory / "manifest.json").read_text())["records"] == 0


def test_mapped_instances_get_their_own_names(api, tmp_path):
    for index, ids in enumerate(([1, 2], [3, 4])):
        op = BulkFetchOperator(
            task_id="fetch", endpoint="/items/{id}", ids=ids, store=str(tmp_path), compression="none"
        )
        op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 2), map_index=index))
    directory = tmp_path / "20240101T000000Z_20240102T000000Z"
    assert sorted(p.name for p in directory.iterdir()) == [
        "manifest-m00000.json",
        "manifest-m00001.json",
        "part-m00000-00000.jsonl",
        "part-m00001-00000.jsonl",
    ]
    assert sorted(r["id"] for r in read_jsonl_parts(directory, "part-*.jsonl")) == [1, 2, 3, 4]


def test_run_id_partition_when_there_is_no_interval(api, tmp_path):
    op = BulkFetchOperator(task_id="fetch", endpoint="/items", ids=[1], store=f"file://{tmp_path}")
    op.execute(make_context(None, None, run_id="manual__2024-01-01T00:00:00+00:00"))
    assert [p.name for p in tmp_path.iterdir()] == ["run_id=manual__2024-01-01T00_00_00_00_00"]
