"""A throwaway ``redis-server`` for tests: free loopback port, no persistence, stopped afterwards.

Usage::

    with throwaway_redis() as server:      # server.url == "redis://127.0.0.1:PORT/0"
        server.restart()                   # stop and start again on the same port (state lost)
        server.pause(); server.resume()    # SIGSTOP / SIGCONT: a Redis that hangs

    with throwaway_redis(password="pw", args=["--maxmemory-policy", "allkeys-lru"]) as server: ...

In pytest use :func:`redis_or_skip` (skip when ``redis-server`` is missing locally, fail under ``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
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
    """One ``redis-server`` process on 127.0.0.1:``port`` (``save ""``, ``appendonly no``), with
    ``requirepass`` when ``password`` is given and any further ``args`` (``["--maxmemory", "1mb"]``)."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        port: int,
        password: str | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.binary, self.workdir, self.port = binary, workdir, port
        self.password, self.args = password, list(args or [])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, db: int = 0):  # -> redis.Redis (imported lazily, like the engine does)
        """A synchronous ``redis.Redis`` on this server, for test set-up and inspection."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password)

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
                *(["--requirepass", self.password] if self.password else []),
                *self.args,
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
                s.sendall(f"AUTH {self.password}\r\nPING\r\n".encode() if self.password else b"PING\r\n")
                reply = b""
                while b"+PONG" not in reply and b"-" not in reply[:1]:
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    reply += chunk
                if b"+PONG" in reply:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"redis-server did not answer on 127.0.0.1:{self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.kill()  # no persistence: nothing to save, and a kill is what a crash looks like (stopped too)
        proc.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections and answers nothing (a hung Redis)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """``used_cpu_sys + used_cpu_user`` from ``INFO cpu``."""
        info = self.client().info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


@contextlib.contextmanager
def throwaway_redis(password: str | None = None, args: list[str] | None = None) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise RedisUnavailable(
            "redis-server not found on PATH; install it with `apt-get install -y redis-server`"
        )
    workdir = Path(tempfile.mkdtemp(prefix="bulkfetch-redis-"))
    server = RedisServer(binary, workdir, free_port(), password=password, args=args)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_or_skip(password: str | None = None, args: list[str] | None = None) -> Iterator[RedisServer]:
    """:func:`throwaway_redis` for pytest: skip when ``redis-server`` is absent locally, fail under
    ``CI=true``."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_redis(password, args))
        except RedisUnavailable as exc:
            if in_ci():
                pytest.fail(f"CI=true but no redis-server available: {exc}", pytrace=False)
            pytest.skip(f"no redis-server available: {exc}")
        yield server
