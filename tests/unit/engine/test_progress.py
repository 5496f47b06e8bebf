"""The progress log line: interval, done/total, ETA, and its validation."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.progress import format_progress
from airflow_provider_bulk_uploader.engine.report import FetchReport

# ---- progress -----------------------------------------------------------------------------------------

PROGRESS = re.compile(
    r"^progress: (?P<done>\d+)/(?P<total>\d+) \(\d+\.\d%\) done, \d+\.\d URLs/s, \d+ requests, "
    r"(?P<failed>\d+) failed, ETA (?P<eta>\d+) s$"
)

BASE = "https://api.test"


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
