"""JsonlFileStore (plain and gzip, truncate on first write) and ListStore fed by the engine."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import JsonlFileStore, UploadedData

BASE = "https://api.test"

# ---- JsonlFileStore ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_jsonl_store_writes_one_document_per_line_and_truncates_on_first_write(tmp_path, name):
    path = tmp_path / "nested" / name
    path.parent.mkdir()
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as old:
        old.write('{"stale": true}\n' * 5)

    store = JsonlFileStore(path)
    assert list(store) == [{"stale": True}] * 5  # nothing written yet: untouched
    store.add_batch([{"a": 1}, {"b": [1, 2]}])
    store.add({"c": "é"})
    store.flush()
    assert store.count == 3
    assert store.saved_data() == [{"a": 1}, {"b": [1, 2]}, {"c": "é"}]  # the stale lines are gone
    if name.endswith(".gz"):
        assert path.read_bytes()[:2] == b"\x1f\x8b"  # really gzip
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    else:
        lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == store.saved_data()

    # the same object appends after a flush (still one valid file); a new object truncates again
    store.add_batch([{"d": 4}])
    store.flush()
    assert [next(iter(d)) for d in store.saved_data()] == ["a", "b", "c", "d"]
    fresh = JsonlFileStore(path)
    fresh.add_batch([{"z": 26}])
    fresh.flush()
    assert fresh.saved_data() == [{"z": 26}]


def test_jsonl_store_rejects_a_bad_compresslevel(tmp_path):
    with pytest.raises(ValueError, match=r"compresslevel.*0"):
        JsonlFileStore(tmp_path / "x.gz", compresslevel=0)


@respx.mock
async def test_engine_streams_into_a_gzip_jsonl_store_and_closes_it(tmp_path):
    respx.get(url__regex=rf"{BASE}/items/\d+").mock(
        side_effect=lambda r: httpx.Response(200, json={"id": int(r.url.path.rsplit("/", 1)[1])})
    )
    path = tmp_path / "items.jsonl.gz"
    store = JsonlFileStore(path)
    report = await UploadedData(
        store, url_maker=[f"{BASE}/items/{i}" for i in range(250)], batch_size=40, http_backend="httpx"
    ).run()
    assert report.succeeded == 250
    assert store._file is None  # flushed (closed) by the engine at the end of the run
    with gzip.open(path, "rt", encoding="utf-8") as handle:  # complete gzip, trailer included
        ids = sorted(json.loads(line)["id"] for line in handle)
    assert ids == list(range(250))
