"""The supported Airflow range is stated once and is what CI runs.

The floor is the ``apache-airflow>=X.Y.Z`` of ``pyproject.toml``; the README states the same floor; ``make
test-min-airflow`` (run by ``.ci/run``) runs these provider tests on exactly that release and says so in
``BULK_FETCH_EXPECT_AIRFLOW``, which the last test checks against the Airflow really running. Nothing here
imports Airflow.
"""

from __future__ import annotations

import os
import re
import subprocess
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[3]


def airflow_requirement() -> Requirement:
    """The ``apache-airflow`` requirement of ``pyproject.toml`` (on Python 3.10, which has no tomllib, of the
    installed metadata: make reinstalls the project whenever pyproject.toml changes)."""
    try:
        import tomllib

        dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    except ModuleNotFoundError:
        dependencies = requires("airflow-provider-bulk-uploader") or []
    (found,) = [r for r in map(Requirement, dependencies) if r.name == "apache-airflow" and r.marker is None]
    return found


def floor() -> str:
    (spec,) = airflow_requirement().specifier
    assert spec.operator == ">=", f"one floor, no upper bound or exclusions: {spec}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", spec.version), f"a full release (X.Y.Z), as CI installs it: {spec}"
    return spec.version


def test_the_readme_states_the_floor_of_pyproject():
    readme = (REPO / "README.md").read_text()
    assert f"Airflow {floor()} and later" in readme and f"`apache-airflow>={floor()}`" in readme


def test_ci_runs_the_provider_tests_on_the_floor():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert "make test" in ci and "make test-min-airflow" in ci
    # the Makefile reads the floor from pyproject.toml and pins exactly it in the second environment
    dry_run = subprocess.run(
        ["make", "-n", "-B", "-C", str(REPO), "test-min-airflow"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f'echo "apache-airflow=={floor()}" >' in dry_run
    assert f"BULK_FETCH_EXPECT_AIRFLOW={floor()} " in dry_run


def test_the_running_airflow_is_in_the_supported_range():
    running = version("apache-airflow")
    assert airflow_requirement().specifier.contains(running), f"Airflow {running} is outside the range"
    expected = os.environ.get("BULK_FETCH_EXPECT_AIRFLOW")
    if expected is not None:  # make test-min-airflow: the floor itself, not uv.lock's release
        assert Version(running) == Version(expected) == Version(floor())
