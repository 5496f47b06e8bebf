"""Headless Chromium for tests: Debian's ``chromium`` + ``chromium-driver`` driven by selenium (no browser or
driver download: both paths are given, Selenium Manager is never asked), on a fresh profile, no network
besides what the page asks for on loopback.

In pytest use :func:`chromium_or_skip` (skip when either binary is missing locally, fail under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "chromium_or_skip", "headless_chromium"]

#: no background traffic, no sandbox (root in CI), no GPU, a fresh profile per driver
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1600,560",
)


def _binaries() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    return browser, driver


@contextlib.contextmanager
def headless_chromium(log_dir: Path) -> Iterator[Any]:
    """A ``selenium.webdriver.Chrome`` on headless Chromium; quit (browser and driver stopped) afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _binaries()
    if browser is None or driver_path is None:
        raise FileNotFoundError(
            "chromium and chromedriver are needed: apt-get install chromium chromium-driver"
        )
    os.environ.setdefault("SE_AVOID_STATS", "true")  # selenium: no usage statistics
    profile = tempfile.mkdtemp(prefix="bulkfetch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={profile}"):
        options.add_argument(arg)
    service = Service(executable_path=driver_path, log_output=str(log_dir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def chromium_or_skip(log_dir: Path) -> Iterator[Any]:
    """:func:`headless_chromium` for pytest: skip when Chromium or its driver is absent locally, fail under
    ``CI=true`` (tests/conftest.py)."""
    import pytest

    if None in _binaries():
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    with headless_chromium(log_dir) as driver:
        yield driver
