"""DEBUG everything, every auth kind, both backends, through redirects (same origin, another origin, a
``Location`` that carries the token) and failures (5xx with retries, 401, dropped connections, invalid JSON,
a URL on another origin): the token appears nowhere — not in any log line of any logger (root, aiohttp,
httpx, httpcore and its children, tenacity, ours, Airflow's), not in stdout/stderr, the report, the failure
file, the manifest, the XCom summary and records, nor in exception texts — in none of its forms: as is,
lower/upper case, URL-encoded, base64 in Basic auth. And the other origin never receives it (issue 8).

``oauth2_client_credentials`` (issue 24): the client secret and every access token a real authorization
server (Authlib, tests/support/oauth2_server.py) issued during the run — renewed after the 401 too — appear
nowhere; the secret reaches only the token URL, the tokens only the API (never the other origin, never the
token URL)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from airflow_provider_bulk_uploader.exceptions import BulkFetchFailuresError
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from airflow_provider_bulk_uploader.testing import running_demo_api
from tests.support.oauth2 import running_oauth2_server

pytestmark = pytest.mark.integration

MODES = {
    "header": "X-API-Key",
    "query": "api_key",
    "bearer": None,
    "basic": None,
    "oauth2_client_credentials": None,
}
BACKENDS = ("aiohttp", "httpx")
LOGGERS = ("", "aiohttp", "httpx", "httpcore", "tenacity", "airflow_provider_bulk_uploader", "airflow")


def _variants(token: str, user: str = "user") -> list[str]:
    """The token's forms, plus its random core: a leak in any other encoding still shows the core."""
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    # OAuth2's client_secret_basic form-encodes id and secret before base64 (RFC 6749 §2.3.1)
    form_basic = base64.b64encode(f"{quote(user, safe='')}:{quote(token, safe='')}".encode()).decode()
    core = token.split("+")[1].split("/")[0]
    found = {token, token.lower(), token.upper(), quote(token, safe=""), quote_plus(token), basic, core}
    return sorted(found | {basic.lower(), core.upper(), form_basic})


@pytest.fixture
def debug_everything() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    saved = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _context(tmp: Path) -> dict:
    from tests.unit.provider.helpers import make_context, utc

    return make_context(utc(2024, 1, 1), utc(2024, 1, 2))


def _open_servers(
    mode: str, tmp_path: Any, servers: contextlib.ExitStack, monkeypatch: Any
) -> tuple[Any, ...]:
    """The API (taking ``mode``'s credentials), another origin, and for OAuth2 a real authorization server;
    the ``secrets_test`` connection set for them. Returns ``(token, api, other, oauth)``: the secret to look
    for (the client secret with OAuth2) and the servers (``oauth`` is ``None`` for the other modes)."""
    oauth = None
    token = f"Sk+{uuid.uuid4().hex[:16]}/Mixed=Case"  # '+', '/', '=' change under URL/base64 encoding
    if mode == "oauth2_client_credentials":  # the API takes any bearer (it records them); Authlib issues them
        oauth = servers.enter_context(running_oauth2_server(tmp_path, expires_in=600, client_id="user"))
        token = oauth.client_secret  # same shape: Cs+<hex>/Secret=<hex>
        api = servers.enter_context(running_demo_api())
    else:
        api = servers.enter_context(
            running_demo_api(token=token, auth=mode, auth_name=MODES[mode] or "X-API-Key")
        )
    other = servers.enter_context(running_demo_api())
    extra = {"auth_type": mode, **({"auth_name": MODES[mode]} if MODES[mode] else {})}
    if oauth is not None:
        extra.update(oauth2_url=oauth.token_url, oauth2_scope="read")
    conn = {"conn_type": "bulk_fetch", "host": api.url, "login": "user", "password": token, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SECRETS_TEST", json.dumps(conn))
    return token, api, other, oauth


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", list(MODES))
def test_the_token_appears_nowhere(mode, backend, tmp_path, monkeypatch, capfd, debug_everything):
    oauth2 = mode == "oauth2_client_credentials"
    with contextlib.ExitStack() as servers:
        token, api, other, oauth = _open_servers(mode, tmp_path, servers, monkeypatch)
        echo = f"/status/404?api_key={token}"  # a Location that carries the token (quoted by the plan)
        ids = [
            "/items/1",  # same-origin redirect: credentials kept
            f"{other.url}/items/2",  # cross-origin redirect: credentials dropped
            echo,
            "/status/503",  # retried, then a failure
            "/drop",
            "/invalid-json",
            "/status/401",
        ]
        texts: list[str] = []
        op = BulkFetchOperator(
            task_id="fetch",
            bulk_fetch_conn_id="secrets_test",
            endpoint="/redirect?to={id}",
            ids=ids,
            store=f"file://{tmp_path}",
            retry_max_attempts=2,
            http_backend=backend,
        )
        with pytest.raises(BulkFetchFailuresError) as info:
            op.execute(_context(tmp_path))
        texts += [str(info.value), repr(info.value)]

        op.store, op.max_failures = "xcom", 100
        ctx = _context(tmp_path)
        summary = op.execute(ctx)
        texts += [json.dumps(summary), json.dumps(ctx["ti"].xcom, default=str)]
        assert summary["succeeded"] == 2 and summary["failed"] == 5, summary

        # an absolute endpoint on another origin: sent without credentials
        absolute = BulkFetchOperator(
            task_id="fetch",
            bulk_fetch_conn_id="secrets_test",
            endpoint=f"{other.url}/items/{{id}}",
            ids=[3],
            http_backend=backend,
        )
        texts.append(json.dumps(absolute.execute(_context(tmp_path))))

        secrets = [token]
        if oauth2:
            issued = oauth.token_stats()["issued"]
            assert len(issued) >= 2, "the 401 to a token that had worked renewed it"
            secrets += issued
            assert oauth.token_stats()["bearer_at_token_endpoint"] == 0, "no access token to the token URL"
            sent = [r.headers.get("Authorization", "") for r in api.requests]
            assert all(token not in s for s in sent) and any(s == f"Bearer {issued[0]}" for s in sent)
        for request in other.requests:
            seen = json.dumps([dict(request.headers), dict(request.query)])
            for secret in secrets:
                for variant in _variants(secret):
                    assert variant not in seen, (variant, seen)
        assert any(
            token in json.dumps(dict(r.headers)) + json.dumps(dict(r.query)) for r in api.requests
        ) or (mode in ("basic", "oauth2_client_credentials"))

    out, err = capfd.readouterr()
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert any("failures" in p.name for p in tmp_path.rglob("*"))
    everything = "\n".join([debug_everything.getvalue(), out, err, *texts, *files])
    assert "httpcore" in everything or backend == "aiohttp"  # the child loggers were on and captured
    for secret in secrets:
        for variant in _variants(secret):
            assert variant not in everything, (variant, _around(everything, variant))


def _around(text: str, needle: str) -> str:
    at = text.find(needle)
    return text[max(0, at - 300) : at + 100]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", list(MODES))
def test_posts_leak_neither_the_token_nor_their_bodies(
    mode, backend, tmp_path, monkeypatch, capfd, debug_everything
):
    """The same for POST batch lookups (issue 23): redirected with 307 (method and body kept) to the same
    origin and to another one, a 503 and a dropped connection (not resent), a 400 above the batch limit. The
    bodies carry a marker that must appear in no log line, report, failure file or exception either."""
    marker = f"filter-{uuid.uuid4().hex}"
    with contextlib.ExitStack() as servers:
        token, api, other, oauth = _open_servers(mode, tmp_path, servers, monkeypatch)
        texts: list[str] = []
        targets = {
            "same": f"{api.url}/batch/items",
            "other": f"{other.url}/batch/items",
            "503": f"{api.url}/status/503",
            "drop": f"{api.url}/drop",
        }
        for name, target in targets.items():
            op = BulkFetchOperator(
                task_id="fetch",
                bulk_fetch_conn_id="secrets_test",
                endpoint=f"/redirect?to={quote(target, safe='')}&code=307",
                method="POST",
                json={"ids": "{ids}", "note": marker},
                ids=list(range(104)) if name == "same" else list(range(4)),
                ids_per_request=101 if name == "same" else 2,  # same: a group over the limit (400) and 3
                store=f"file://{tmp_path / name}",
                record_path="data" if name in ("same", "other") else None,
                retry_max_attempts=3,
                http_backend=backend,
                max_failures=100,
            )
            summary = op.execute(_context(tmp_path))
            texts.append(json.dumps(summary))
        secrets = [token, *(oauth.token_stats()["issued"] if oauth is not None else [])]
        for request in other.requests:
            seen = json.dumps([dict(request.headers), dict(request.query)])
            for secret in secrets:
                for variant in _variants(secret):
                    assert variant not in seen, (variant, seen)
        assert [r.method for r in other.requests if r.route == "/batch/items"] == ["POST", "POST"]
        resent = [r for r in api.requests if r.path in ("/status/503", "/drop")]
        assert len(resent) == 4, "a POST that failed after it was sent is not resent"
    out, err = capfd.readouterr()
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".gz"]
    assert any("failures" in p.name for p in tmp_path.rglob("*"))
    everything = "\n".join([debug_everything.getvalue(), out, err, *texts, *files])
    assert "POST" in everything
    for variant in [*(v for secret in secrets for v in _variants(secret)), marker]:
        assert variant not in everything, (variant, _around(everything, variant))
