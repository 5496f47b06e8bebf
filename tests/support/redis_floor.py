"""A second, small Python environment with the **lowest redis-py the package allows** (the ``redis>=X``
floor of ``pyproject.toml``'s ``redis`` extra) and the engine's other dependencies at the versions of this
environment — enough to run the engine (``tests/support/shared_worker.py``), no Airflow.

Built once with ``uv`` under ``.venv/redis-floor-<X>/`` (``make clean`` removes it; a few seconds from
uv's cache). Raising the floor in ``pyproject.toml`` makes the tests use the new floor.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the engine's runtime dependencies besides redis (pyproject ``dependencies``, minus the Airflow layer)
ENGINE_DEPS = ("httpx", "aiohttp", "tenacity", "sniffio")

__all__ = ["FloorUnavailable", "floor_python", "redis_floor"]


class FloorUnavailable(RuntimeError):
    """No ``uv`` to build the environment with."""


def redis_floor() -> str:
    """The lowest redis-py version the ``redis`` extra allows, e.g. ``"5.0"`` for ``redis>=5.0``."""
    text = (ROOT / "pyproject.toml").read_text()
    extra = re.search(r"^redis = \[(.*?)^\]", text, re.S | re.M)  # [project.optional-dependencies] redis
    assert extra, "no redis extra in pyproject.toml"
    match = re.search(r'"redis\s*>=\s*([0-9][0-9.]*)', extra.group(1))
    assert match, f"no redis>= floor in the redis extra: {extra.group(1)!r}"
    return match.group(1)


def floor_python() -> tuple[Path, str]:
    """``(python, redis version)`` of the floor environment, built on first use."""
    floor = redis_floor()
    version = floor if floor.count(".") >= 2 else floor + ".0"  # "5.0" -> the first release "5.0.0"
    target = ROOT / ".venv" / f"redis-floor-{version}"
    python = target / "bin" / "python"
    if not (target / ".ready").exists():
        uv = shutil.which("uv") or next(
            (str(p) for p in [ROOT / ".tools" / "bin" / "uv"] if p.exists()), None
        )
        if uv is None:
            raise FloorUnavailable("no uv on PATH nor in .tools/bin (make venv installs it)")
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(target)], check=True, timeout=120)
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in ENGINE_DEPS]
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), f"redis=={version}", *pins],
            check=True,
            timeout=300,
        )
        (target / ".ready").touch()
    out = subprocess.run(
        [str(python), "-c", "import redis; print(redis.__version__)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return python, out.stdout.strip()
