"""Start the Authlib authorization server + protected API of :mod:`tests.support.oauth2_server` for a test.

``with running_oauth2_server(tmp_path, expires_in=2) as oauth:`` gives ``oauth.token_url``,
``oauth.api_url`` (another origin), the client's ``client_id`` / ``client_secret``, and ``token_stats()`` /
``api_stats()`` / ``revoke_all()`` / ``add_faults()``. The child process is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.net import free_port
from tests.support.processes import start_process_group, stop_process_group

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0


def _call(url: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class OAuth2Server:
    token_url: str
    api_url: str
    client_id: str
    client_secret: str
    expires_in: float
    log_path: Path

    @property
    def token_base(self) -> str:
        return self.token_url.rsplit("/oauth/token", 1)[0]

    def token_stats(self) -> dict[str, Any]:
        """``token_requests`` (one entry per POST: method, status, form without the secret, arrival in
        seconds since start), ``issued`` (every access token), ``bearer_at_token_endpoint``."""
        return _call(f"{self.token_base}/_stats")  # type: ignore[no-any-return]

    def api_stats(self) -> dict[str, Any]:
        """``hits`` (id -> 200s served), ``statuses`` (status -> count), ``requests``, ``secret_at_api``."""
        return _call(f"{self.api_url}/_stats")  # type: ignore[no-any-return]

    def revoke_all(self) -> int:
        return int(_call(f"{self.token_base}/_revoke", {})["revoked"])

    def add_faults(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        _call(f"{self.token_base}/_faults", {"status": status, "count": count, "retry_after": retry_after})

    def secrets(self) -> list[str]:
        """The client secret and every access token issued so far."""
        return [self.client_secret, *self.token_stats()["issued"]]


@contextlib.contextmanager
def running_oauth2_server(
    log_dir: Path, *, expires_in: float = 2.0, client_id: str = "bulk-client", scopes: str = "read"
) -> Iterator[OAuth2Server]:
    """The servers on two free loopback ports, with a new random client secret (``+``, ``/`` and ``=`` in
    it: they change under URL encoding and base64)."""
    token_port, api_port = free_port(), free_port()
    client_secret = f"Cs+{uuid.uuid4().hex[:12]}/Secret={uuid.uuid4().hex[:6]}"
    log_path = Path(log_dir) / f"oauth2-server-{token_port}.log"
    env = {**os.environ, "OAUTH2_TEST_CLIENT_SECRET": client_secret, "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "tests.support.oauth2_server",
        *("--token-port", str(token_port), "--api-port", str(api_port)),
        *("--expires-in", str(expires_in), "--client-id", client_id, "--scopes", scopes),
    ]
    proc = start_process_group(cmd, log_path=log_path, env=env, cwd=str(REPO))
    server = OAuth2Server(
        token_url=f"http://127.0.0.1:{token_port}/oauth/token",
        api_url=f"http://127.0.0.1:{api_port}",
        client_id=client_id,
        client_secret=client_secret,
        expires_in=expires_in,
        log_path=log_path,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the OAuth2 test server exited:\n{log_path.read_text()[-3000:]}")
            try:
                server.token_stats(), server.api_stats()
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the OAuth2 test server did not start:\n{log_path.read_text()[-3000:]}"
                    ) from None
                time.sleep(0.1)
        yield server
    finally:
        stop_process_group(proc, grace_seconds=5)
