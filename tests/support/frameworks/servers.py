"""Start and stop the framework servers: one child process each, on a loopback free port, its own
session (stopped with its children), its output in a log file shown when it fails to start.

``framework_server(name)`` yields the server's base URL; ``name`` is one of :data:`SERVERS`. A server whose
runtime is missing (json-server's ``node_modules``, installed by ``.ci/run``) raises
:class:`ServerUnavailable`; the fixtures turn that into a skip locally and a failure under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.net import free_port
from tests.support.processes import start_process_group, stop_process_group

from . import RECORDS

REPO = Path(__file__).resolve().parents[3]
NODE_DIR = Path(__file__).resolve().parent / "node"
#: name -> how to start it (``{port}``, ``{db}`` and ``{dir}`` filled in)
SERVERS: dict[str, list[str]] = {
    "drf": [sys.executable, "-m", f"{__package__}.drf", "--port", "{port}", "--db", "{dir}/db"],
    "fastapi": [sys.executable, "-m", f"{__package__}.fastapi_app", "--port", "{port}", "--db", "{dir}/db"],
    "json-server-0.17": [
        "node", str(NODE_DIR / "json-server-0.17/node_modules/json-server/lib/cli/bin.js"),
        "--port", "{port}", "--host", "127.0.0.1", "--read-only", "--quiet", "{dir}/db.json",
    ],
    "json-server-1": [
        "node", str(NODE_DIR / "json-server-1/node_modules/json-server/lib/bin.js"),
        "--port", "{port}", "--host", "127.0.0.1", "{dir}/db.json",
    ],
}  # fmt: skip


class ServerUnavailable(RuntimeError):
    """The server's runtime is not installed here."""


def _check_installed(name: str) -> None:
    cmd = SERVERS[name]
    if cmd[0] == "node":
        if shutil.which("node") is None:
            raise ServerUnavailable(f"{name}: no `node` on PATH (.ci/run installs nodejs)")
        if not Path(cmd[1]).exists():
            folder = Path(cmd[1]).parents[2].parent
            raise ServerUnavailable(
                f"{name}: {cmd[1]} missing; install it with `npm ci --prefix {folder.relative_to(REPO)}` "
                "(.ci/run does)"
            )


def _seed(workdir: Path) -> None:
    """json-server's database: the same records as the Python servers (ids 1..RECORDS, value id*3)."""
    items = [{"id": i, "value": i * 3} for i in range(1, RECORDS + 1)]
    (workdir / "db.json").write_text(json.dumps({"items": items}))


def _wait_listening(port: int, proc, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(
        f"server did not listen on 127.0.0.1:{port} within {timeout:.0f} s: {log.read_text()[-3000:]}"
    )


@contextlib.contextmanager
def framework_server(name: str, timeout: float = 60.0) -> Iterator[str]:
    """Run server ``name`` for the ``with`` block; yields ``http://127.0.0.1:PORT``."""
    _check_installed(name)
    workdir = Path(tempfile.mkdtemp(prefix=f"bulkfetch-{name}-"))
    try:
        _seed(workdir)
        port = free_port()
        cmd = [part.format(port=port, dir=workdir) for part in SERVERS[name]]
        log = workdir / "server.log"
        proc = start_process_group(cmd, log_path=log, cwd=REPO)
        try:
            _wait_listening(port, proc, log, timeout)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process_group(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
