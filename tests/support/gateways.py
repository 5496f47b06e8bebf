"""Real rate-limiting gateways on loopback, for tests and benchmarks: nginx (``limit_req``) and HAProxy (a
stick table with ``http_req_rate``), each started from its own config in a temporary directory on a free
port, logging every answer (time, status, URI) to a file, and stopped afterwards.

Usage::

    with running_gateway(NGINX, latency_ms=0) as gw:     # gw.url == "http://127.0.0.1:PORT"
        ...                                              # GET gw.url + "/items/7" -> {"id": 7}
        gw.answers()                                     # [(epoch seconds, status, uri), ...]

In pytest use :func:`gateway_or_skip` (skip when the binary is missing locally, fail under ``CI=true``).

Each client address is metered on its own, and so is each value of an ``X-Meter-Key`` request header:
:func:`fetch_through` sends a fresh one per run, so runs one after the other on one gateway start from a
clean meter without waiting for it to forget the previous run.

* **nginx** (Debian ``nginx-light``): ``limit_req_zone ... rate=20r/s`` and ``limit_req_status 429`` on
  ``/items/``, which serves static JSON files through ``try_files`` (``return 200`` is answered before the
  limit_req phase, so it would never be limited) or, with a latency, proxies to :mod:`.slow_backend`.
  Runs in the foreground as the current user: ``-p <tmp> -c <conf> -g 'daemon off; pid ...; error_log
  stderr;'``.
* **HAProxy** (Debian ``haproxy``): ``stick-table ... store http_req_rate(1s)``, ``http-request track-sc0
  src`` and ``http-request deny deny_status 429 if { sc_http_req_rate(0) gt 20 }`` in front of
  :mod:`.slow_backend` (latency 0 or more). HAProxy counts denied requests in the rate too.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.ci import in_ci
from tests.support.net import free_port
from tests.support.processes import start_process_group, stop_process_group

__all__ = [
    "CONFIGS",
    "GATEWAY_RATE",
    "Gateway",
    "GatewayConfig",
    "GatewayRun",
    "GatewayUnavailable",
    "fetch_through",
    "gateway_or_skip",
    "running_gateway",
]

ROOT = Path(__file__).resolve().parents[2]

#: Requests per second every gateway config admits.
GATEWAY_RATE = 20


class GatewayUnavailable(RuntimeError):
    """The gateway's binary (nginx or haproxy) is not installed."""


@dataclass(frozen=True)
class GatewayConfig:
    """One gateway and how it meters.

    :param burst: nginx ``limit_req burst=`` (0: none); HAProxy has none.
    :param nodelay: nginx ``nodelay`` (answer the burst at once instead of spacing it out).
    :param matching_burst: what to declare to the engine for this meter (``Ratelimit(burst=...)``), as the
        docs read a gateway's settings: nginx ``burst=0`` -> 1, ``burst=B`` -> B; a rate estimator (HAProxy)
        -> 1.
    """

    name: str
    server: Literal["nginx", "haproxy"]
    rate: int = GATEWAY_RATE
    burst: int = 0
    nodelay: bool = False
    matching_burst: int = 1

    def describe(self) -> str:
        if self.server == "haproxy":
            return f"HAProxy sc_http_req_rate(1s) gt {self.rate} -> 429"
        text = f"nginx limit_req rate={self.rate}r/s"
        if self.burst:
            text += f" burst={self.burst}"
        return text + (" nodelay" if self.nodelay else "")


NGINX = GatewayConfig("nginx", "nginx")
NGINX_BURST5 = GatewayConfig("nginx-burst5", "nginx", burst=5, matching_burst=5)
NGINX_BURST20_NODELAY = GatewayConfig(
    "nginx-burst20-nodelay", "nginx", burst=20, nodelay=True, matching_burst=20
)
HAPROXY = GatewayConfig("haproxy", "haproxy")
CONFIGS: tuple[GatewayConfig, ...] = (NGINX_BURST20_NODELAY, NGINX, NGINX_BURST5, HAPROXY)
BY_NAME = {c.name: c for c in CONFIGS}


@dataclass
class Gateway:
    """A running gateway: its URL, its config and its answer log."""

    config: GatewayConfig
    url: str
    workdir: Path
    log_path: Path
    latency_ms: float = 0.0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def answers(self) -> list[tuple[float, int, str]]:
        """Every answer the gateway logged so far: (epoch seconds, status, URI), in log order."""
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text(errors="replace").splitlines():
            parts = line.split()
            # HAProxy logs the start-up probe (a connection closed without a request) as <BADREQ>
            if len(parts) >= 3 and parts[0].replace(".", "", 1).isdigit() and parts[1].isdigit():
                if parts[2] == "<BADREQ>":
                    continue
                out.append((float(parts[0]), int(parts[1]), parts[2]))
        return out

    def mark(self) -> int:
        """How many answers are logged now (pass to :meth:`answers_since` to see one run's only)."""
        return len(self.answers())

    def answers_since(self, mark: int) -> list[tuple[float, int, str]]:
        return self.answers()[mark:]


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )
    if found is None:
        package = "nginx-light" if name == "nginx" else name
        raise GatewayUnavailable(f"{name} not found; install it with `apt-get install -y {package}`")
    return found


def _wait_listening(
    port: int, procs: list[subprocess.Popen[bytes]], log: Path, timeout: float = 10.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} within {timeout:.0f} s")


def _user_directive() -> str:
    """As root, nginx would switch its workers to ``nobody``, who cannot read the private temp dir."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"


def _nginx_conf(config: GatewayConfig, work: Path, port: int, backend_port: int | None) -> str:
    burst = f" burst={config.burst}" if config.burst else ""
    nodelay = " nodelay" if config.nodelay else ""
    serve = "try_files $uri =404;"
    temp = "\n".join(
        f"  {kind}_temp_path {work / ('tmp-' + kind)};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    upstream_keepalive = (
        f"  upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 64; }}\n" if backend_port else ""
    )
    if backend_port is not None:
        serve = 'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";'
    return f"""{_user_directive()}
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
{temp}
  default_type application/json;
  log_format gw '$msec $status $request_uri';
  access_log {work / "access.log"} gw;
  keepalive_requests 100000;
  limit_req_zone $binary_remote_addr$http_x_meter_key zone=api:1m rate={config.rate}r/s;
  limit_req_status 429;
{upstream_keepalive}  server {{
    listen 127.0.0.1:{port};
    root {work / "www"};
    location /items/ {{
      limit_req zone=api{burst}{nodelay};
      {serve}
    }}
  }}
}}
"""


def _haproxy_conf(config: GatewayConfig, port: int, backend_port: int) -> str:
    return f"""global
  log stdout format raw local0
  maxconn 4096
defaults
  mode http
  log global
  log-format "%Ts.%ms %ST %HU"
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend api
  bind 127.0.0.1:{port}
  stick-table type string len 64 size 100k expire 30s store http_req_rate(1s)
  http-request set-var(txn.meter) src,ipmask(32)
  http-request set-var(txn.meter) req.hdr(x-meter-key) if {{ req.hdr(x-meter-key) -m found }}
  http-request track-sc0 var(txn.meter)
  http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {config.rate} }}
  default_backend app
backend app
  server app1 127.0.0.1:{backend_port}
"""


def _start_backend(work: Path, latency_ms: float, procs: list[subprocess.Popen[bytes]]) -> int:
    port = free_port()
    log = work / "backend.log"
    procs.append(
        start_process_group(
            [
                sys.executable,
                "-m",
                "tests.support.slow_backend",
                "--port",
                str(port),
                "--latency-ms",
                str(latency_ms),
            ],
            log_path=log,
            cwd=ROOT,
        )
    )
    _wait_listening(port, procs, log, timeout=20.0)
    return port


@contextlib.contextmanager
def running_gateway(
    config: GatewayConfig, *, latency_ms: float = 0.0, items: int = 2000
) -> Iterator[Gateway]:
    """Start ``config`` on a free loopback port for the ``with`` block; ``/items/<id>`` answers ``{"id": id}``
    for ``id < items`` (static files; with ``latency_ms`` > 0 or HAProxy, the :mod:`.slow_backend` answers
    any id after ``latency_ms``)."""
    binary = _binary(config.server)
    work = Path(tempfile.mkdtemp(prefix=f"bulkfetch-{config.name}-"))
    procs: list[subprocess.Popen[bytes]] = []
    port = free_port()
    try:
        if config.server == "nginx":
            backend = _start_backend(work, latency_ms, procs) if latency_ms > 0 else None
            www = work / "www" / "items"
            www.mkdir(parents=True)
            for i in range(items):
                (www / str(i)).write_text(f'{{"id": {i}}}')
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (work / f"tmp-{kind}").mkdir()
            conf = work / "nginx.conf"
            conf.write_text(_nginx_conf(config, work, port, backend))
            log_path = work / "access.log"
            cmd = [
                binary,
                "-p",
                str(work),
                "-c",
                str(conf),
                "-g",
                f"daemon off; pid {work / 'nginx.pid'}; error_log stderr;",
            ]
            procs.append(start_process_group(cmd, log_path=work / "nginx.out"))
            _wait_listening(port, procs, work / "nginx.out")
        else:
            backend = _start_backend(work, latency_ms, procs)
            conf = work / "haproxy.cfg"
            conf.write_text(_haproxy_conf(config, port, backend))
            log_path = work / "haproxy.out"
            procs.append(start_process_group([binary, "-f", str(conf), "-db"], log_path=log_path))
            _wait_listening(port, procs, log_path)
        yield Gateway(config, f"http://127.0.0.1:{port}", work, log_path, latency_ms, procs)
    finally:
        for proc in reversed(procs):
            stop_process_group(proc, grace_seconds=5)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def gateway_or_skip(config: GatewayConfig, **kwargs: Any) -> Iterator[Gateway]:
    """:func:`running_gateway` for pytest: skip when the binary is absent locally, fail under ``CI=true``."""
    import pytest

    with contextlib.ExitStack() as stack:
        try:
            gateway = stack.enter_context(running_gateway(config, **kwargs))
        except GatewayUnavailable as exc:
            if in_ci():
                pytest.fail(f"CI=true but {exc}", pytrace=False)
            pytest.skip(str(exc))
        yield gateway


# ---- one run of the engine through a gateway ---------------------------------------------------------


@dataclass
class GatewayRun:
    """What one engine run through a gateway did, counted by the engine and at the gateway."""

    succeeded: int
    failed: int
    attempts: int
    stored_ids: list[Any]
    wall_seconds: float
    #: answers logged by the gateway during the run: (epoch seconds, status, uri)
    answers: list[tuple[float, int, str]]
    rate: float
    report: Any = None

    @property
    def rejections(self) -> int:
        """429s the gateway answered."""
        return sum(1 for _t, status, _u in self.answers if status == 429)

    @property
    def delivered(self) -> float:
        """Records stored per second of the run, as a fraction of the gateway's rate."""
        return self.succeeded / self.wall_seconds / self.rate if self.wall_seconds > 0 else 0.0

    def delivered_between(self, start: float, end: float) -> float:
        """200s the gateway answered in ``[start, end)`` seconds after the first answer, as a fraction of
        its rate over that span."""
        if not self.answers:
            return 0.0
        t0 = min(t for t, _s, _u in self.answers)
        ok = sum(1 for t, s, _u in self.answers if s == 200 and start <= t - t0 < end)
        return ok / (end - start) / self.rate

    def rejections_between(self, start: float, end: float) -> int:
        if not self.answers:
            return 0
        t0 = min(t for t, _s, _u in self.answers)
        return sum(1 for t, s, _u in self.answers if s == 429 and start <= t - t0 < end)

    def summary(self) -> str:
        return (
            f"{self.succeeded} stored, {self.failed} failed, {self.attempts} requests, "
            f"{self.rejections} x 429, {self.wall_seconds:.2f} s, {self.delivered:.2f} of the rate"
        )


_warmed = False


async def fetch_through(
    gateway: Gateway,
    rate_limit: Any,
    *,
    ids: int = 100,
    concurrency: int = 16,
    seconds: float | None = None,
    first_id: int = 0,
    **uploader: Any,
) -> GatewayRun:
    """Fetch ``/items/<id>`` for ``ids`` ids through ``gateway`` with ``rate_limit`` (a ``Ratelimit``), as a
    new user would (default retry policy), and count what the engine and the gateway saw. With ``seconds``,
    the URL generator stops yielding after that long (a bounded run of ``ids`` at most)."""
    from airflow_provider_bulk_uploader import ListStore, UploadedData

    global _warmed
    if not _warmed:  # the first request of a process pays for lazy imports and first-use set-up, ~ms late
        await UploadedData(
            ListStore(),
            url_maker=[f"{gateway.url}/items/0"],
            progress_interval=0,
            headers={"X-Meter-Key": "warm"},
        ).run()
        _warmed = True
    store = ListStore()
    started = time.monotonic()

    def urls() -> Iterator[str]:
        for i in range(first_id, first_id + ids):
            if seconds is not None and time.monotonic() - started >= seconds:
                return
            yield f"{gateway.url}/items/{i}"

    mark = gateway.mark()
    report = await UploadedData(
        store,
        url_maker=urls(),
        rate_limit=rate_limit,
        max_concurrency=concurrency,
        progress_interval=0,
        headers={"X-Meter-Key": uuid.uuid4().hex},  # a clean meter for this run
        **uploader,
    ).run()
    wall = time.monotonic() - started
    await asyncio.sleep(0.05)  # the gateway writes its last log lines
    return GatewayRun(
        succeeded=report.succeeded,
        failed=report.failed,
        attempts=report.attempts,
        stored_ids=[r.get("id") if isinstance(r, dict) else r for r in store.saved_data()],
        wall_seconds=wall,
        answers=gateway.answers_since(mark),
        rate=float(gateway.config.rate),
        report=report,
    )
