"""JsonlFileStore (plain and gzip, truncate on first write), the progress log line, and the engine's
independence from Airflow (checked in a fresh interpreter)."""

from __future__ import annotations

import gzip
import json
import logging
import re
import subprocess
import sys
import textwrap

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import JsonlFileStore, ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.progress import format_progress
from airflow_provider_bulk_uploader.engine.report import FetchReport

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


# ---- progress -----------------------------------------------------------------------------------------

PROGRESS = re.compile(
    r"^progress: (?P<done>\d+)/(?P<total>\d+) \(\d+\.\d%\) done, \d+\.\d URLs/s, \d+ requests, "
    r"(?P<failed>\d+) failed, ETA (?P<eta>\d+) s$"
)


@respx.mock
async def test_progress_lines_at_the_interval_show_done_total_and_eta(caplog):
    async def slow(request):
        import asyncio

        await asyncio.sleep(0.03)
        return httpx.Response(404 if request.url.path.endswith("/0") else 200, json=1)

    respx.get(url__regex=rf"{BASE}/items/\d+").mock(side_effect=slow)
    caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
    report = await UploadedData(
        ListStore(),
        url_maker=[f"{BASE}/items/{i}" for i in range(20)],  # a list: sized
        max_concurrency=2,
        progress_interval=0.05,
        http_backend="httpx",
    ).run()
    assert report.succeeded == 19
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "airflow_provider_bulk_uploader" and r.getMessage().startswith("progress:")
    ]
    assert len(lines) >= 3, lines  # ~0.3 s run at 0.05 s intervals
    matches = [PROGRESS.match(line) for line in lines]
    with_eta = [m for m in matches if m]
    assert with_eta, lines
    assert all(int(m["total"]) == 20 for m in with_eta)
    done = [int(m["done"]) for m in with_eta]
    assert done == sorted(done) and 0 < done[-1] <= 20
    assert all(int(m["failed"]) <= 1 for m in with_eta)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.getMessage().startswith("progress:"))


def test_progress_line_format_without_a_total_has_no_eta():
    report = FetchReport(requested=30, succeeded=25, failed=5, attempts=40)
    line = format_progress(report, None, 10.0)
    assert line == "progress: 30 done, 3.0 URLs/s, 40 requests, 5 failed"
    sized = format_progress(report, 120, 10.0)
    assert sized == "progress: 30/120 (25.0%) done, 3.0 URLs/s, 40 requests, 5 failed, ETA 30 s"


@respx.mock
async def test_progress_interval_zero_disables_the_lines(caplog):
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, json=1))
    caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
    await UploadedData(ListStore(), url_maker=[f"{BASE}/x"], progress_interval=0, http_backend="httpx").run()
    assert not [r for r in caplog.records if r.getMessage().startswith("progress:")]
    assert any("bulk fetch finished" in r.getMessage() for r in caplog.records)


def test_negative_progress_interval_is_rejected():
    with pytest.raises(ValueError, match=r"progress_interval.*-1"):
        UploadedData(ListStore(), url_maker=[f"{BASE}/x"], progress_interval=-1)


# ---- no Airflow in the engine ------------------------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    from airflow_provider_bulk_uploader import (
        UploadedData, GetAPICall, ListStore, JsonlFileStore, Ratelimit, loading_urls, id_iterator,
        HeaderAuth, QueryParamsAuth, BearerAuth, BasicAuth, default_retry_policy, FetchReport,
    )
    from airflow_provider_bulk_uploader.engine.interfaces import Store, APICall, Auth
    from airflow_provider_bulk_uploader.engine.iterators import days_intervals
    import airflow_provider_bulk_uploader.testing
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "airflow": sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow.")),
        "aiohttp_loaded": "aiohttp" in sys.modules,
        "seconds": elapsed,
    }))
    """
)


def test_engine_imports_nothing_from_airflow_and_imports_quickly():
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["airflow"] == []
    # httpx + tenacity (+ aiohttp for the demo server helpers) load in well under a second here;
    # importing Airflow would take 5-10 s
    assert result["seconds"] < 3.0, result


def test_engine_alone_does_not_load_aiohttp_until_a_run_needs_it():
    probe = "import sys, airflow_provider_bulk_uploader; print('aiohttp' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "False"
