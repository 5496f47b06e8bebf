"""Suite-wide rule: under ``CI=true`` nothing skips silently.

A test whose component is missing (PostgreSQL, docker-compose, uv, ...) skips on a developer's machine but
must FAIL in CI, where every component is installed: this hook turns every skip (in a test, a fixture, or at
collection) into a failure when ``CI`` is true, unless the test carries ``@pytest.mark.allow_skip("why")``.
Expected failures (``xfail``) are not skips and are left alone. Nothing here imports Airflow.

Fixtures every test directory shares are plugins listed in ``pytest_plugins`` (the demo API:
:mod:`tests.support.demo`).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from tests.support import airflow_home
from tests.support.ci import in_ci

# before any test module is collected: a module that imports the operator imports Airflow
airflow_home.configure()

pytest_plugins = ["tests.support.demo"]


def _skip_reason(longrepr: Any) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (report.skipped and in_ci()) or hasattr(report, "wasxfail"):
        return
    if item.get_closest_marker("allow_skip") is not None:
        return
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true ({_skip_reason(report.longrepr)}); install the missing component or mark the "
        "test @pytest.mark.allow_skip('why CI may skip it')"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if report.skipped and in_ci():
        report.outcome = "failed"
        report.longrepr = f"module skipped at collection under CI=true: {_skip_reason(report.longrepr)}"
