"""tests/conftest.py: under CI=true a skip is a failure unless the test is marked ``allow_skip``.

Runs a child pytest on a throwaway test file that uses the real ``tests/conftest.py`` (copied next to it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTEST_ARGS = ("-q", "-rA", "-p", "no:cacheprovider", "-o", "addopts=", "-o", "markers=allow_skip(r): ok")

_TESTS = textwrap.dedent(
    """
    import pytest

    def test_passes():
        pass

    def test_skips():
        pytest.skip("no widget installed")

    @pytest.mark.skipif(True, reason="never here")
    def test_skipif():
        pass

    @pytest.mark.allow_skip("the widget is optional")
    def test_allowed():
        pytest.skip("no widget installed")

    @pytest.mark.xfail(reason="known bug", strict=True)
    def test_xfail():
        assert False
    """
)


def _run(tmp_path: Path, ci: str | None) -> tuple[int, str]:
    (tmp_path / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tmp_path / "test_widget.py").write_text(_TESTS)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(REPO)
    if ci is not None:
        env["CI"] = ci
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *PYTEST_ARGS, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout


def test_under_ci_every_skip_fails_unless_allowed(tmp_path):
    code, out = _run(tmp_path, "true")
    summary = out.strip().splitlines()[-1]
    assert code == 1, out
    # a skip in the call fails the test; a skipif (decided in setup) errors it: either fails the run
    assert "1 failed, 1 passed, 1 skipped, 1 xfailed, 1 error" in summary, out
    assert "FAILED test_widget.py::test_skips" in out and "ERROR test_widget.py::test_skipif" in out
    assert "skipped under CI=true (Skipped: no widget installed)" in out
    assert "SKIPPED [1] test_widget.py:16" in out  # the allowed one (line 16) still skips


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_skips_stay_skips(tmp_path, ci):
    code, out = _run(tmp_path, ci)
    assert code == 0, out
    assert "1 passed, 3 skipped, 1 xfailed" in out.strip().splitlines()[-1], out
