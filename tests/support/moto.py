"""A loopback S3 for tests: ``moto_server`` on 127.0.0.1 plus an Airflow ``aws`` connection pointing at it.

Usage::

    with moto_s3(bucket="bulk-fetch-test", conn_id="aws_test") as s3:
        os.environ.update(s3.env)  # AIRFLOW_CONN_AWS_TEST={"conn_type": "aws", ... "endpoint_url": ...}
        ObjectStoragePath(f"s3://{s3.conn_id}@{s3.bucket}/prefix/x.jsonl.gz").write_bytes(b"...")

The server is the ``moto_server`` CLI in a subprocess (its own process: no GIL sharing with the code under
test, nothing patched in-process); when the CLI is missing, ``moto.server.ThreadedMotoServer`` in a thread.
Credentials are dummies (``testing``/``testing``), region ``us-east-1``; the bucket is created before the
connection is handed out. ``moto[server]`` is in the project's ``test`` extra.

Airflow caches one filesystem per (protocol, conn_id) for ``ObjectStoragePath``: keep one server per
conn_id per process (a session-scoped fixture), or use a fresh conn_id for a fresh server.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.net import free_port
from tests.support.processes import start_process_group, stop_process_group

__all__ = ["MotoS3", "moto_s3"]

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class MotoS3:
    endpoint_url: str
    bucket: str
    conn_id: str
    conn_json: str
    env: dict[str, str] = field(default_factory=dict)

    def url(self, key: str = "") -> str:
        """``s3://<conn_id>@<bucket>/<key>``, as ``ObjectStoragePath`` and the operator's ``store`` take."""
        return f"s3://{self.conn_id}@{self.bucket}/{key.lstrip('/')}"

    def client(self) -> Any:
        """A boto3 S3 client on the moto server (to inspect what was written, independently of Airflow)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def keys(self, prefix: str = "") -> list[str]:
        client = self.client()
        out: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out += [obj["Key"] for obj in page.get("Contents", [])]
        return sorted(out)


def _wait_ready(
    endpoint: str, timeout: float, proc: subprocess.Popen[bytes] | None, log: Path | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{detail}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"moto_server not answering at {endpoint} after {timeout:.0f}s")


@contextlib.contextmanager
def _server(port: int, timeout: float) -> Iterator[str]:
    endpoint = f"http://127.0.0.1:{port}"
    cli = Path(sys.executable).with_name("moto_server")
    if cli.exists():
        logdir = Path(tempfile.mkdtemp(prefix="bulkfetch-moto-"))
        log = logdir / "moto_server.log"
        proc = start_process_group([str(cli), "-H", "127.0.0.1", "-p", str(port)], log_path=log)
        try:
            _wait_ready(endpoint, timeout, proc, log)
            yield endpoint
        finally:
            stop_process_group(proc)
            log.unlink(missing_ok=True)
            logdir.rmdir()
    else:  # pragma: no cover - the venv normally has the CLI
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            _wait_ready(endpoint, timeout, None, None)
            yield endpoint
        finally:
            server.stop()


@contextlib.contextmanager
def moto_s3(
    bucket: str = "bulk-fetch-test", conn_id: str = "aws_test", timeout: float = 30.0
) -> Iterator[MotoS3]:
    """Start moto on a free loopback port, create ``bucket``, yield a :class:`MotoS3`; stop it afterwards."""
    with _server(free_port(), timeout) as endpoint:
        conn = {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"endpoint_url": endpoint, "region_name": REGION},
        }
        s3 = MotoS3(
            endpoint_url=endpoint,
            bucket=bucket,
            conn_id=conn_id,
            conn_json=json.dumps(conn),
            env={f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)},
        )
        s3.client().create_bucket(Bucket=bucket)
        yield s3
