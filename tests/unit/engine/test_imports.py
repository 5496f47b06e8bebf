"""The engine's independence from Airflow (checked in a fresh interpreter) and its lazy aiohttp import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

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
    from airflow_provider_bulk_uploader.interfaces import Store as SpecStore  # the spec's paths
    from airflow_provider_bulk_uploader.iterators import days_intervals as spec_days_intervals
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
