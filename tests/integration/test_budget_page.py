"""The "Bulk fetch budgets" page end to end: a real ``airflow api-server`` loading the provider's plugin
(entry point ``airflow.plugins``), two engine processes sharing one key on a real ``redis-server`` (each
holding slots on slow requests to the demo API), and headless Chromium loading the page.

* the page's row shows N, the mode and the used / in-flight / waiting figures that Redis holds;
* Airflow's auth applies: SimpleAuthManager with users (no all-admins), an unauthenticated request gets
  401 (the page redirects to the login page), a viewer (who may not read connections) 403;
* no credential in what the page serves (the Redis password, the API token, client ids);
* the page is listed in Airflow's UI (``/ui/plugins``... the Admin menu) and renders inside it;
* screenshots for the docs (``BULK_FETCH_SCREENSHOTS=<dir>`` keeps them there; docs/img/ holds the
  committed ones).

Cost: ~10 s ``db migrate`` + ~20 s api-server start + ~15 s for the rest on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_bulk_uploader.engine import defaults
from tests.support.api_server import http, running_api_server
from tests.support.chromium import chromium_or_skip
from tests.support.processes import stop_process_group
from tests.support.redis import redis_or_skip
from tests.support.shared_limit import mark_unused

pytestmark = [pytest.mark.integration, pytest.mark.redis, pytest.mark.timeout(420)]

KEY = "vendor-eu"
N, PERIOD = 4, 60
REDIS_PASSWORD = "redis-Secret-4c1d"
API_TOKEN = "api-Token-77e0"
REPO = Path(__file__).resolve().parents[2]


def _token(base: str, username: str, password: str) -> str:
    body = json.dumps({"username": username, "password": password}).encode()
    status, _, reply = http(f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"})
    assert status == 201, reply[:500]
    return str(json.loads(reply)["access_token"])


def _raw_figures(client, now_us: int) -> dict[str, int]:
    """What Redis holds for the key, read with plain commands (not the page's snapshot module)."""
    base = f"{defaults.SHARED_KEY_PREFIX}{{{KEY}}}:"
    free = client.zcount(base + "ready", "-inf", now_us)
    held = client.zcount(base + "held", f"({now_us}", "+inf")
    wants = {k.decode(): v.decode() for k, v in client.hgetall(base + "wants").items()}
    waiting = sum(
        1
        for member in client.zrange(base + "waiting", 0, -1)
        if int(wants.get(member.decode(), "0:0").split(":")[1]) >= now_us
    )
    return {"used_in_window": N - free, "in_flight": held, "waiting_processes": waiting}


def _now_us(client) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def _workers(redis_url: str, urls: list[str], log_dir: Path) -> list[subprocess.Popen[bytes]]:
    # burst=N: the N slots at once (paced, they would leave one per period / N = 15 s)
    spec = {"redis": redis_url, "key": KEY, "n": N, "period": PERIOD, "burst": N, "urls": urls, "timeout": 90}
    procs = []
    for i in range(2):
        with (log_dir / f"worker-{i}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.support.shared_worker", json.dumps(spec)],
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    return procs


def test_the_page_shows_what_redis_holds_behind_airflow_auth(tmp_path: Path) -> None:
    from airflow_provider_bulk_uploader.testing import running_demo_api

    home = tmp_path / "home"
    home.mkdir()
    with (
        redis_or_skip(password=REDIS_PASSWORD) as redis_server,
        running_demo_api() as api,  # no auth: the workers send none (the connection still holds a token)
    ):
        client = redis_server.client()
        mark_unused(client, KEY, N)  # a budget last used a day ago: its slots are free now
        redis_url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_server.port}/0"
        settings = {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": "test-only-jwt-secret-for-the-budget-page",
            "AIRFLOW_CONN_MY_API": json.dumps(
                {
                    "conn_type": "bulk_fetch",
                    "host": api.url,
                    "password": API_TOKEN,
                    "extra": {
                        "auth_type": "header",
                        "rate_limit_requests": N,
                        "rate_limit_period_seconds": PERIOD,
                        "rate_limit_scope": "shared",
                        "rate_limit_key": KEY,
                        "redis_conn_id": "budget_redis",
                    },
                }
            ),
            "AIRFLOW_CONN_BUDGET_REDIS": redis_url,
        }
        with running_api_server(home, **settings) as (base, log_path):
            passwords = json.loads((home / "passwords.json").read_text())
            admin, viewer = (
                _token(base, "admin", passwords["admin"]),
                _token(base, "viewer", passwords["viewer"]),
            )

            # Airflow's auth, before any budget exists: 401 without credentials, 403 for a viewer
            status, _, body = http(f"{base}/bulk-fetch/api/budgets")
            assert status == 401, body[:300]
            status, headers, _ = http(f"{base}/bulk-fetch/budgets")
            assert status == 307 and "/auth/login" in headers["location"], headers
            status, _, body = http(
                f"{base}/bulk-fetch/api/budgets", headers={"Authorization": f"Bearer {viewer}"}
            )
            assert status == 403, body[:300]
            status, _, body = http(
                f"{base}/bulk-fetch/api/budgets", headers={"Authorization": "Bearer forged"}
            )
            assert status in (401, 403), body[:300]

            # the plugin is what Airflow loaded, and its view is in the UI's menu
            status, _, body = http(f"{base}/api/v2/plugins", headers={"Authorization": f"Bearer {admin}"})
            assert status == 200, body[:300]
            (plugin,) = [p for p in json.loads(body)["plugins"] if p["name"] == "bulk_fetch"]
            assert plugin["fastapi_apps"][0]["url_prefix"] == "/bulk-fetch"
            assert plugin["external_views"][0]["href"] == "/bulk-fetch/budgets"

            # two processes on one key: 6 slow requests for 4 slots, each held ~60 s
            urls = [f"{api.url}/slow?ms=60000&i={i}" for i in range(3)]
            workers = _workers(redis_url, urls, tmp_path)
            try:
                deadline = time.monotonic() + 45
                while _raw_figures(client, _now_us(client))["in_flight"] < N:
                    assert time.monotonic() < deadline, [p.read_text() for p in tmp_path.glob("worker-*.log")]
                    assert all(p.poll() is None for p in workers)
                    time.sleep(0.2)
                time.sleep(0.5)  # the waiting process has asked again at least once
                _check_json(base, admin, client)
                _check_browser(base, admin, client, tmp_path)
            finally:
                for proc in workers:
                    stop_process_group(proc, grace_seconds=5)
            assert REDIS_PASSWORD not in log_path.read_text()


def _check_json(base: str, admin: str, client) -> None:
    status, _, body = http(f"{base}/bulk-fetch/api/budgets", headers={"Authorization": f"Bearer {admin}"})
    raw = _raw_figures(client, _now_us(client))
    assert status == 200, body[:500]
    text = body.decode()
    assert REDIS_PASSWORD not in text and API_TOKEN not in text
    for member in client.zrange(f"{defaults.SHARED_KEY_PREFIX}{{{KEY}}}:clients", 0, -1):
        assert member.decode() not in text  # no client id
    data = json.loads(body)
    (budget,) = [b for b in data["budgets"] if b["key"] == KEY]
    assert (budget["num_requests"], budget["period_seconds"], budget["mode"]) == (N, PERIOD, "strict")
    assert budget["connections"] == ["my_api"] and budget["redis_conn_id"] == "budget_redis"
    assert budget["used_in_window"] == raw["used_in_window"] == N
    assert budget["in_flight"] == raw["in_flight"] == N
    assert budget["waiting_processes"] == raw["waiting_processes"] >= 1
    assert budget["processes"] == 2 and budget["active"] is True
    (server,) = [r for r in data["redis"] if r["redis_conn_id"] == "budget_redis"]
    assert server["error"] is None and server["used_by"] == ["my_api"]
    assert "setup" not in data


def _check_browser(base: str, admin: str, client, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("BULK_FETCH_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with chromium_or_skip(tmp_path) as driver:
        driver.get(f"{base}/bulk-fetch/budgets")  # not logged in: Airflow's login page
        WebDriverWait(driver, 30).until(lambda d: "/auth/login" in d.current_url)
        driver.add_cookie({"name": "_token", "value": admin, "path": "/"})  # what the UI's login sets
        driver.get(f"{base}/bulk-fetch/budgets")
        row_css = f'tr[data-key="{KEY}"]'
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, row_css))
        WebDriverWait(driver, 30).until(
            lambda d: int(d.find_element(By.TAG_NAME, "body").get_attribute("data-loaded") or 0) >= 2
        )
        # one read of the whole row (the page re-renders its rows every few seconds)
        cells = driver.execute_script(
            "const row = document.querySelector(arguments[0]); const out = {};"
            "for (const td of row.querySelectorAll('td')) out[td.dataset.field] ="
            " {text: td.textContent.trim(), value: td.dataset.value ?? null};"
            "return out;",
            row_css,
        )
        raw = _raw_figures(client, _now_us(client))
        assert cells["num_requests"] == {"text": f"{N} per {PERIOD} s", "value": str(N)}
        assert cells["mode"]["text"] == "strict"
        assert cells["used_in_window"]["value"] == str(raw["used_in_window"]) == str(N)
        assert cells["used_in_window"]["text"] == f"{N} / {N}"
        assert cells["in_flight"]["text"] == str(raw["in_flight"]) == str(N)
        assert cells["waiting_processes"]["text"] == str(raw["waiting_processes"])
        assert cells["connections"]["text"] == "my_api" and cells["redis_conn_id"]["text"] == "budget_redis"
        assert REDIS_PASSWORD not in driver.page_source and API_TOKEN not in driver.page_source
        driver.save_screenshot(str(shots / "bulk-fetch-budgets.png"))

        # inside Airflow's UI: the Admin menu's external view, an iframe of the same page
        driver.get(f"{base}/plugin/bulk-fetch-budgets")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.TAG_NAME, "iframe"))
        frame = driver.find_element(By.TAG_NAME, "iframe")
        assert frame.get_attribute("src").endswith("/bulk-fetch/budgets")
        driver.switch_to.frame(frame)
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, row_css))
        driver.switch_to.default_content()
        time.sleep(1.0)  # the menu's icons and fonts
        driver.save_screenshot(str(shots / "bulk-fetch-budgets-in-airflow.png"))
    for name in ("bulk-fetch-budgets.png", "bulk-fetch-budgets-in-airflow.png"):
        assert (shots / name).stat().st_size > 10_000
    if os.environ.get("BULK_FETCH_SCREENSHOTS"):
        print(f"screenshots in {shots}")
