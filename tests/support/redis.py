"""A throwaway ``redis-server`` for tests: free loopback port, no persistence, stopped afterwards.

Usage::

    with throwaway_redis() as server:      # server.url == "redis://127.0.0.1:PORT/0"
        server.restart()                   # stop and start again on the same port (state lost)

In pytest use :func:`redis_or_skip` (skip when ``redis-server`` is missing locally, fail under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.postgres import free_port, in_ci

__all__ = ["RedisServer", "RedisUnavailable", "redis_or_skip", "throwaway_redis"]


class RedisUnavailable(RuntimeError):
    """``redis-server`` is not installed."""


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1:``port`` (``save ""``, ``appendonly no``)."""

    def __init__(self, binary: str, workdir: Path, port: int) -> None:
        self.binary, self.workdir, self.port = binary, workdir, port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"redis-server did not answer on 127.0.0.1:{self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()  # no persistence: nothing to save, and a kill is what a crash looks like
        proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """``used_cpu_sys + used_cpu_user`` from ``INFO cpu``."""
        import redis

        info = redis.Redis(host="127.0.0.1", port=self.port).info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@contextlib.contextmanager
def throwaway_redis() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise RedisUnavailable(
            "redis-server not found on PATH; install it with `apt-get install -y redis-server`"
        )
    workdir = Path(tempfile.mkdtemp(prefix="bulkfetch-redis-"))
    server = RedisServer(binary, workdir, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_or_skip() -> Iterator[RedisServer]:
    """:func:`throwaway_redis` for pytest: skip when ``redis-server`` is absent locally, fail under
    ``CI=true``."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_redis())
        except RedisUnavailable as exc:
            if in_ci():
                pytest.fail(f"CI=true but no redis-server available: {exc}", pytrace=False)
            pytest.skip(f"no redis-server available: {exc}")
        yield server
