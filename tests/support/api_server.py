"""A real ``airflow api-server`` for tests: a throwaway SQLite home migrated, the server on a free loopback
port, healthy before use, stopped (its process group) afterwards."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.net import free_port
from tests.support.processes import airflow_cmd, airflow_env, start_process_group, stop_process_group

__all__ = ["http", "running_api_server"]


def http(
    url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 20.0
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of one request (redirects not followed)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@contextlib.contextmanager
def running_api_server(
    home: Path, *, start_timeout: float = 150.0, **settings: str
) -> Iterator[tuple[str, Path]]:
    """``(base URL, log path)`` of an api-server (``--apps core``: the UI, the public API, the plugins) on
    ``home`` with ``settings`` (``AIRFLOW__...``/``AIRFLOW_CONN_...``) in its environment."""
    env = airflow_env(home, f"sqlite:///{home / 'airflow.db'}", AIRFLOW__API__WORKERS="1", **settings)
    migrate = subprocess.run(
        [*airflow_cmd(), "db", "migrate"], env=env, capture_output=True, text=True, timeout=240
    )
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = home / "api-server.log"
    args = ("--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--apps", "core")
    proc = start_process_group([*airflow_cmd(), "api-server", *args], env=env, log_path=log_path)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"api-server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}"
                )
            with contextlib.suppress(OSError):
                if http(f"{base}/api/v2/monitor/health", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"api-server not healthy after {start_timeout:.0f}s:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(0.25)
        yield base, log_path
    finally:
        stop_process_group(proc, grace_seconds=20)
