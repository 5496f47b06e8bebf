"""Shared pieces of the benchmarks: a fast loopback HTTP server, CPU pinning, rusage helpers.

The server is a raw ``asyncio.Protocol`` HTTP/1.1 keep-alive server (uvloop when installed) that
answers every request with the same small JSON body. It runs in its own process pinned to the
last CPU so it is never the bottleneck of a client pinned to CPU 0; the benchmarks report its CPU
utilisation so you can check that claim on your machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BODY = b'{"id":1,"name":"item-1","value":508.991,"tags":["a","b"],"active":true}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n"
    b"Connection: keep-alive\r\n"
    b"\r\n" + BODY
)
CLIENT_CPU = 0


def server_cpu() -> int:
    return max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0


def pin(cpu: int) -> bool:
    """Pin this process to one CPU; False when the machine has a single CPU or no affinity API."""
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        return False
    os.sched_setaffinity(0, {cpu})
    return True


# ---- the server (child process) ---------------------------------------------------------------
class _FixedResponse(asyncio.Protocol):
    """Answers each complete request head (GET, no body) with RESPONSE; handles pipelining."""

    __slots__ = ("buf", "transport")

    def __init__(self) -> None:
        self.buf = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:  # uvloop's transport is no asyncio.Transport
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        n = buf.count(b"\r\n\r\n")
        if n:
            self.transport.write(RESPONSE * n)
            buf = buf[buf.rfind(b"\r\n\r\n") + 4 :]
        self.buf = buf


def _page_body(route: str, query: dict[str, str], cache: dict[tuple[str, int, int, int], bytes]) -> bytes:
    """The JSON body of one page: ``/offset`` (``offset``, ``limit``, ``n``; the total in the body) or
    ``/cursor`` (``cursor`` = the offset as a string, ``limit``, ``n``; ``next_cursor`` null at the end)."""
    limit, n = int(query.get("limit", "100")), int(query.get("n", "10000"))
    start = int(query.get("offset") or query.get("cursor") or 0)
    key = (route, start, limit, n)
    body = cache.get(key)
    if body is None:
        stop = min(start + limit, n)
        records = b",".join(
            b'{"id":%d,"name":"item-%d","value":%d.5}' % (i, i, i) for i in range(start, stop)
        )
        if route == "/offset":
            body = b'{"total":%d,"data":[%s]}' % (n, records)
        else:
            after = b'"%d"' % stop if stop < n else b"null"
            body = b'{"data":[%s],"next_cursor":%s}' % (records, after)
        if len(cache) < 50_000:
            cache[key] = body
    return body


class _PagedResponse(_FixedResponse):
    """``/offset`` and ``/cursor`` pages (see :func:`_page_body`); ``ms=<n>`` delays the answer by n ms
    (a slow backend); any other path gets the fixed RESPONSE."""

    cache: dict[tuple[str, int, int, int], bytes] = {}

    def data_received(self, data: bytes) -> None:
        from urllib.parse import parse_qsl

        buf = self.buf + data if self.buf else data
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head, buf = buf[:end], buf[end + 4 :]
            target = head.split(b" ", 2)[1].decode()
            route, _, query_text = target.partition("?")
            if route not in ("/offset", "/cursor"):
                self.transport.write(RESPONSE)
                continue
            query = dict(parse_qsl(query_text))
            body = _page_body(route, query, self.cache)
            response = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: keep-alive\r\n\r\n%s" % (len(body), body)
            )
            delay = int(query.get("ms", "0")) / 1000.0
            if delay:
                asyncio.get_running_loop().call_later(delay, self.transport.write, response)
            else:
                self.transport.write(response)
        self.buf = buf


def serve(port: int) -> None:
    """Entry point of the server process: prints ``PORT <n>`` then serves until SIGTERM."""
    pin(server_cpu())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        server = await loop.create_server(_PagedResponse, "127.0.0.1", port, backlog=4096, reuse_address=True)
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await stop.wait()
        server.close()

    asyncio.run(main())


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """user+sys CPU of the server process so far (from /proc; 0.0 where unavailable)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def fast_server() -> Iterator[Server]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"benchmark server failed to start: {line!r}")
        yield Server(proc, int(line.split()[1]))
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a server process: SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def demo_api(*options: str) -> Iterator[str]:
    """The demo API (``python -m airflow_provider_bulk_uploader.testing.demo_api``) in its own process on a
    free loopback port, without auth, with these extra command-line ``options``: yields its base URL."""
    cmd = [sys.executable, "-m", "airflow_provider_bulk_uploader.testing.demo_api", "--port", "0"]
    cmd += ["--auth", "none", *options]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"demo API did not start (said {line!r})")
        yield line.removeprefix("listening on ")
    finally:
        stop(proc)


# ---- measuring (client process) ---------------------------------------------------------------
def cpu_now() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS)
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def engine_available() -> str | None:
    """None when the engine imports, else the reason it does not (the benchmarks skip it)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from airflow_provider_bulk_uploader import UploadedData, GetAPICall, Ratelimit",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["import failed"])[-1]


class CountingStore:
    """ListStore-like store that keeps a count instead of the items (no memory growth)."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, item: object) -> None:
        self.count += 1

    def add_batch(self, items: list[object]) -> None:
        self.count += len(items)

    def saved_data(self) -> int:
        return self.count


def now() -> float:
    return time.perf_counter()


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve(0)
