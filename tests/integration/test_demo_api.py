"""The demo API's own behaviour: it is the yardstick for the engine and operator tests, so check it too."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from airflow_provider_bulk_uploader.testing import DemoAPI, max_in_window, running_demo_api

pytestmark = pytest.mark.integration


async def fetch(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url, allow_redirects=False, **kwargs) as resp:
        return resp.status, dict(resp.headers), await resp.read()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


# ---- max_in_window ----------------------------------------------------------------------------
def test_max_in_window_counts_half_open_windows() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3  # [0, 1) holds 0, .5, .99
    assert max_in_window([1.0, 0.0, 0.5, 0.99], 1.0) == 3  # order does not matter
    assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1
    with pytest.raises(ValueError):
        max_in_window([0.0], 0)


# ---- data endpoints ---------------------------------------------------------------------------
async def test_items_are_deterministic_per_seed(session: aiohttp.ClientSession) -> None:
    bodies = []
    for seed in (0, 0, 1):
        async with DemoAPI(seed=seed) as api:
            status, headers, body = await fetch(session, f"{api.url}/items/42")
            assert status == 200
            assert headers["Content-Type"].startswith("application/json")
            bodies.append(json.loads(body))
    assert bodies[0] == bodies[1] != bodies[2]
    assert bodies[0]["id"] == 42 and bodies[0]["name"] == "item-42"


async def test_items_unknown_id_is_404(session: aiohttp.ClientSession) -> None:
    async with DemoAPI() as api:
        assert (await fetch(session, f"{api.url}/items/abc"))[0] == 404
        assert (await fetch(session, f"{api.url}/no-such-path"))[0] == 404
        assert api.stats.by_path_status["<unmatched>", 404] == 1


async def test_records_one_per_hour_half_open(session: aiohttp.ClientSession) -> None:
    async with DemoAPI() as api:
        status, _, body = await fetch(
            session, f"{api.url}/records", params={"start": "2024-01-01T00:00:00Z", "end": "2024-01-02"}
        )
        assert status == 200
        records = json.loads(body)
        assert len(records) == 24
        assert records[0]["timestamp"] == "2024-01-01T00:00:00+00:00"
        assert records[-1]["timestamp"] == "2024-01-01T23:00:00+00:00"
        assert len({r["id"] for r in records}) == 24

        # contiguous chunks reassemble the whole range with no gap and no duplicate
        chunks = []
        for start, end in [
            ("2024-01-01", "2024-01-01T10:30:00+00:00"),
            ("2024-01-01T10:30:00Z", "2024-01-02"),
        ]:
            _, _, body = await fetch(session, f"{api.url}/records", params={"start": start, "end": end})
            chunks.extend(json.loads(body))
        assert chunks == records

        # timezone offsets are honoured; step is configurable
        _, _, body = await fetch(
            session,
            f"{api.url}/records",
            params={"start": "2024-01-01T02:00:00+02:00", "end": "2024-01-01T01:00:00+00:00", "step": "1800"},
        )
        assert [r["timestamp"] for r in json.loads(body)] == [
            "2024-01-01T00:00:00+00:00",
            "2024-01-01T00:30:00+00:00",
        ]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-01-01"},  # missing end
        {"start": "yesterday", "end": "2024-01-02"},
        {"start": "2024-01-02", "end": "2024-01-01"},  # end before start
        {"start": "2000-01-01", "end": "2024-01-01"},  # too many records
        {"start": "2024-01-01", "end": "2024-01-02", "step": "0"},
    ],
)
async def test_records_rejects_bad_ranges(session: aiohttp.ClientSession, params: dict[str, str]) -> None:
    async with DemoAPI() as api:
        status, _, body = await fetch(session, f"{api.url}/records", params=params)
        assert status == 400
        assert "error" in json.loads(body)


# ---- auth -------------------------------------------------------------------------------------
def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("auth", "good", "wrong"),
    [
        ("header", {"headers": {"X-API-Key": "s3cret"}}, {"headers": {"X-API-Key": "nope"}}),
        ("query", {"params": {"api_key": "s3cret"}}, {"params": {"api_key": "nope"}}),
        (
            "bearer",
            {"headers": {"Authorization": "Bearer s3cret"}},
            {"headers": {"Authorization": "Bearer x"}},
        ),
        (
            "basic",
            {"headers": {"Authorization": _basic("user", "s3cret")}},
            {"headers": {"Authorization": _basic("other", "s3cret")}},
        ),
    ],
)
async def test_auth_modes(
    session: aiohttp.ClientSession, auth: Any, good: dict[str, Any], wrong: dict[str, Any]
) -> None:
    async with DemoAPI(token="s3cret", auth=auth) as api:
        assert (await fetch(session, f"{api.url}/items/1"))[0] == 401
        assert (await fetch(session, f"{api.url}/items/1", **wrong))[0] == 403
        assert (await fetch(session, f"{api.url}/items/1", **good))[0] == 200
        helper = {"headers": api.auth_headers(), "params": api.auth_params()}
        assert (await fetch(session, f"{api.url}/items/1", **helper))[0] == 200
        assert "s3cret" not in repr(api)


async def test_custom_auth_name_and_recorded_credentials(session: aiohttp.ClientSession) -> None:
    async with DemoAPI(token="tok", auth="header", auth_name="X-Token") as api:
        assert (await fetch(session, f"{api.url}/health", headers={"X-Token": "tok"}))[0] == 200
        assert api.requests[-1].headers["X-Token"] == "tok"  # lets redirect tests check what leaked


# ---- rate limit and faults --------------------------------------------------------------------
async def test_sliding_window_rate_limit(session: aiohttp.ClientSession) -> None:
    async with DemoAPI(rate_limit=10, period=0.5) as api:
        results = await asyncio.gather(*(fetch(session, f"{api.url}/items/{i}") for i in range(30)))
        statuses = sorted(r[0] for r in results)
        assert statuses.count(200) == 10 and statuses.count(429) == 20
        assert all(r[1]["Retry-After"] == "1" for r in results if r[0] == 429)
        assert api.stats.rate_limited == 20
        admitted = [r.arrival for r in api.requests if r.status == 200]
        assert max_in_window(admitted, 0.5) == 10
        await asyncio.sleep(0.55)  # the window slid past: admits again
        assert (await fetch(session, f"{api.url}/items/1"))[0] == 200


async def test_seeded_faults_are_reproducible(session: aiohttp.ClientSession) -> None:
    async def faulted(seed: int) -> set[int]:
        async with DemoAPI(fault_rate=0.2, fault_429_rate=0.1, fault_retry_after=2, seed=seed) as api:
            results = await asyncio.gather(*(fetch(session, f"{api.url}/items/{i}") for i in range(300)))
            for status, headers, _ in results:
                assert status in (200, 429, 503)
                if status == 429:
                    assert headers["Retry-After"] == "2"
            assert api.stats.faults == sum(r[0] != 200 for r in results)
            return {i for i, r in enumerate(results) if r[0] != 200}

    first, again, other = await faulted(0), await faulted(0), await faulted(1)
    assert first == again != other
    assert 60 <= len(first) <= 120  # ~30% of 300


async def test_faults_are_per_attempt_so_retries_can_succeed(session: aiohttp.ClientSession) -> None:
    async with DemoAPI(fault_rate=0.5, seed=3) as api:
        for i in range(20):
            for _attempt in range(30):
                if (await fetch(session, f"{api.url}/items/{i}"))[0] == 200:
                    break
            else:
                pytest.fail(f"/items/{i} never succeeded")
        # /health and friends are never faulted
        assert all([(await fetch(session, f"{api.url}/health"))[0] == 200 for _ in range(20)])


# ---- helper endpoints -------------------------------------------------------------------------
async def test_status_redirect_flaky_invalid_json(session: aiohttp.ClientSession) -> None:
    async with DemoAPI() as api:
        status, headers, _ = await fetch(session, f"{api.url}/status/429", params={"retry_after": "7"})
        assert status == 429 and headers["Retry-After"] == "7"
        http_date = "Wed, 21 Oct 2015 07:28:00 GMT"
        status, headers, _ = await fetch(session, f"{api.url}/status/503", params={"retry_after": http_date})
        assert status == 503 and headers["Retry-After"] == http_date
        assert (await fetch(session, f"{api.url}/status/204"))[0] == 204
        assert (await fetch(session, f"{api.url}/status/999"))[0] == 400

        target = "http://127.0.0.2:1/elsewhere?x=1"
        status, headers, _ = await fetch(session, f"{api.url}/redirect", params={"to": target})
        assert status == 302 and headers["Location"] == target
        status, headers, _ = await fetch(session, f"{api.url}/redirect", params={"to": target, "code": "307"})
        assert status == 307

        flaky = [(await fetch(session, f"{api.url}/flaky/a", params={"fails": "2"}))[0] for _ in range(3)]
        assert flaky == [503, 503, 200]
        assert (await fetch(session, f"{api.url}/flaky/b", params={"fails": "1", "status": "500"}))[0] == 500

        status, _, body = await fetch(session, f"{api.url}/invalid-json")
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


async def test_drop_closes_without_response(session: aiohttp.ClientSession) -> None:
    async with DemoAPI() as api:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await fetch(session, f"{api.url}/drop")
        assert api.stats.by_path_status["/drop", 0] >= 1
        assert (await fetch(session, f"{api.url}/health"))[0] == 200  # server still fine


async def test_slow_and_in_flight_tracking(session: aiohttp.ClientSession) -> None:
    async with DemoAPI() as api:
        t0 = time.monotonic()
        results = await asyncio.gather(
            *(fetch(session, f"{api.url}/slow", params={"ms": "500"}) for _ in range(5))
        )
        elapsed = time.monotonic() - t0
        assert all(r[0] == 200 for r in results)
        assert 0.49 <= elapsed < 2.0  # concurrent (0.5 s), not serial (2.5 s)
        assert api.stats.max_in_flight == 5 and api.stats.in_flight == 0


async def test_stats_endpoint_and_reset(session: aiohttp.ClientSession) -> None:
    async with DemoAPI() as api:
        for i in range(3):
            await fetch(session, f"{api.url}/items/{i}")
        status, _, body = await fetch(session, f"{api.url}/_stats", params={"arrivals": "1", "window": "10"})
        stats = json.loads(body)
        assert status == 200
        assert stats["total"] == 3 and stats["by_path"] == {"/items/{id}": 3}
        assert stats["by_path_status"] == {"/items/{id}": {"200": 3}}
        assert stats["arrivals"] == api.arrivals and stats["max_in_window"]["count"] == 3
        assert len(api.arrivals) == 3  # /_stats itself is not recorded
        async with session.post(f"{api.url}/_reset") as resp:
            assert resp.status == 200
        assert api.arrivals == [] and api.stats.total == 0


def test_construction_errors() -> None:
    with pytest.raises(ValueError, match="loopback"):
        DemoAPI(host="0.0.0.0")
    with pytest.raises(ValueError):
        DemoAPI(rate_limit=0)
    with pytest.raises(ValueError):
        DemoAPI(fault_rate=0.7, fault_429_rate=0.5)
    with pytest.raises(ValueError):
        DemoAPI(auth="digest")  # type: ignore[arg-type]


# ---- sync wrapper and command line ------------------------------------------------------------
def test_running_demo_api_from_sync_code() -> None:
    with running_demo_api(token="t", auth="query", rate_limit=100) as api:
        with urllib.request.urlopen(f"{api.url}/items/7?api_key=t", timeout=5) as resp:
            assert json.load(resp)["id"] == 7
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(f"{api.url}/items/7", timeout=5)
        assert exc.value.code == 401
        assert api.stats.by_status[200] == 1 and len(api.arrivals) == 2
    with pytest.raises(OSError):  # stopped
        urllib.request.urlopen(f"{api.url}/health", timeout=2)


def test_command_line_serves_until_sigterm() -> None:
    env = {**os.environ, "DEMO_API_TOKEN": "from-env"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_bulk_uploader.testing.demo_api",
            "--port",
            "0",
            "--rate-limit",
            "50",
            "--auth",
            "bearer",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.removeprefix("listening on ")
        req = urllib.request.Request(f"{url}/health", headers={"Authorization": "Bearer from-env"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp) == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
