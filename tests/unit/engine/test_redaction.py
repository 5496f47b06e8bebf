"""Redaction: tokens never show up in log lines (httpx's INFO lines included), exception messages, repr()
or the report; the redaction helpers."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest

from airflow_provider_bulk_uploader import (
    GetAPICall,
    ListStore,
    QueryParamsAuth,
    UploadedData,
    redact,
    redact_url,
    register_secret,
)
from tests.support.retry import fast_policy

from .conftest import AUTH_MODES, BACKENDS, make_auth, secret

pytestmark = pytest.mark.integration


# ---- nothing leaks: logs, exceptions, repr, report --------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", AUTH_MODES)
async def test_tokens_never_reach_log_output(make_demo, caplog, mode, backend):
    token = secret(mode)
    api = make_demo(token=token, auth=mode)
    urls = [f"{api.url}/items/{i}" for i in range(3)]
    urls += [f"{api.url}/status/503", f"{api.url}/drop", f"{api.url}/invalid-json", f"{api.url}/items/x"]
    caplog.set_level(logging.DEBUG)  # root: engine, httpx (INFO per request), httpcore, aiohttp
    for name in ("httpx", "httpcore", "airflow_provider_bulk_uploader"):  # whatever an earlier import set
        caplog.set_level(logging.DEBUG, logger=name)
    report = await UploadedData(
        ListStore(),
        url_maker=urls,
        retry_policy=fast_policy(2),
        progress_interval=0.01,
        http_backend=backend,
    ).run(auth=make_auth(mode, token))
    assert report.succeeded == 3 and report.failed == 4
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert token not in text
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    assert basic not in text
    assert any(
        r.name == "airflow_provider_bulk_uploader" and r.levelno == logging.DEBUG for r in caplog.records
    )
    if backend == "httpx":
        # httpx prints every request URL at INFO: the query token must be there, redacted
        httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
        assert httpx_lines and all("HTTP Request: GET" in line for line in httpx_lines)
        if mode == "query":
            assert any("api_key=***" in line for line in httpx_lines), httpx_lines[:2]
    for failure in report.failures:
        assert token not in failure.error and token not in failure.url


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_token_the_user_put_in_the_url_is_redacted_everywhere(demo, caplog, backend):
    token = secret("inurl")
    urls = [f"{demo.url}/status/404?token={token}", f"{demo.url}/drop?api_key={token}&page=2"]
    caplog.set_level(logging.DEBUG)
    report = await UploadedData(
        ListStore(), url_maker=urls, retry_policy=fast_policy(1), http_backend=backend
    ).run()
    assert report.failed == 2
    assert token not in caplog.text and token not in "".join(r.getMessage() for r in caplog.records)
    assert (
        token not in json.dumps(report.to_dict()) and token not in str(report) and token not in repr(report)
    )
    urls_shown = sorted(f.url for f in report.failures)
    assert urls_shown == sorted([f"{demo.url}/status/404?token=***", f"{demo.url}/drop?api_key=***&page=2"])


def test_repr_of_api_call_and_uploader_hide_query_tokens():
    token = secret("repr")
    QueryParamsAuth("sig2", token)  # registers the parameter name and the value
    call = GetAPICall(httpx.AsyncClient(), f"https://api.test/x?sig2={token}")
    assert token not in repr(call)
    uploader = UploadedData(ListStore(), url_maker=[f"https://api.test/x?sig2={token}"])
    assert token not in repr(uploader)


def test_redaction_helpers():
    token = secret("reg")
    register_secret(token)
    assert redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"
    assert redact_url(f"https://user:pw-{token}@h.test/p?x=1&access_token=abc&key=k") == (
        "https://user:***@h.test/p?x=1&access_token=***&key=***"
    )
    assert (
        redact("see https://h.test/p?page=2&apikey=zzz9 now") == "see https://h.test/p?page=2&apikey=*** now"
    )
    assert redact_url("https://h.test/p?page=2") == "https://h.test/p?page=2"  # nothing to hide
