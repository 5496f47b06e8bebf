"""Engine arguments x bad values: each row fails at construction with a message that names the argument
(and never shows the secret it may hold) — never later, inside the run (issue 8, points 5 and 6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_bulk_uploader import (
    BasicAuth,
    BearerAuth,
    GetAPICall,
    HeaderAuth,
    ListStore,
    QueryParamsAuth,
    UploadedData,
    loading_urls,
)

from .conftest import secret

TOKEN = secret("badarg")
GOOD_URL = "https://api.test/items/1"


def _uploader(**kwargs: Any) -> UploadedData:
    return UploadedData(ListStore(), url_maker=kwargs.pop("url_maker", [GOOD_URL]), **kwargs)


def _three_urls():
    yield from (f"https://api.test/items/{i}" for i in range(3))


ROWS: list[tuple[str, Any, type[Exception], str]] = [
    # (argument, value, error, text the message must contain)
    ("timeout", float("inf"), ValueError, "timeout must be a finite number of seconds > 0"),
    ("timeout", float("nan"), ValueError, "timeout must be a finite number"),
    ("timeout", 0, ValueError, "timeout must be a finite number of seconds > 0"),
    ("timeout", "30", TypeError, "timeout must be a number of seconds"),
    ("timeout", True, TypeError, "timeout must be a number of seconds"),
    ("progress_interval", float("inf"), ValueError, "progress_interval must be a finite number"),
    ("progress_interval", -1, ValueError, "progress_interval must be a finite number of seconds >= 0"),
    ("headers", {"X-A": None}, TypeError, "headers['X-A'] must be a string"),
    ("headers", {"X-A": 1}, TypeError, "headers['X-A'] must be a string, got int"),
    ("headers", {"X-A": f"{TOKEN}\r\nX-Evil: 1"}, ValueError, "headers['X-A'] must not contain control"),
    ("headers", {"Bad Name": "v"}, ValueError, "headers has an invalid header name 'Bad Name'"),
    ("headers", {1: "v"}, ValueError, "headers has an invalid header name 1"),
    ("headers", [("X-A", "v")], TypeError, "headers must be a dict of str to str, got list"),
    ("verify_ssl", "false", TypeError, "verify_ssl must be True or False, got str 'false'"),
    ("verify_ssl", 0, TypeError, "verify_ssl must be True or False, got int 0"),
    ("verify_ssl", None, TypeError, "verify_ssl must be True or False"),
    ("max_concurrency", 10**9, ValueError, "max_concurrency must be an int >= 1, <= 4096, got 1000000000"),
    ("max_concurrency", 0, ValueError, "max_concurrency must be an int >= 1"),
    ("max_concurrency", 2.0, TypeError, "max_concurrency must be an int"),
    ("url_maker", ["http://"], ValueError, "url_maker[0] must be an absolute http(s) URL with a host"),
    ("url_maker", ["https:///items"], ValueError, "url_maker[0] must be an absolute http(s) URL with a host"),
    ("url_maker", ["ftp://h/x"], ValueError, "url_maker[0] must be an absolute http(s) URL"),
    ("url_maker", (u for u in ["http://"]), ValueError, "url_maker's first URL must be an absolute http(s)"),
    ("url_maker", iter(["http://h:99999/x"]), ValueError, "url_maker's first URL must be an absolute"),
    ("credential_origins", "https://a.test", TypeError, "credential_origins must be a list of URLs"),
    ("credential_origins", ["files.test"], ValueError, "credential_origins[0] must be an absolute http(s)"),
]


@pytest.mark.parametrize(
    ("argument", "value", "error", "text"), ROWS, ids=[f"{r[0]}={r[1]!r}"[:60] for r in ROWS]
)
def test_bad_engine_argument_fails_at_construction(argument, value, error, text):
    with pytest.raises(error) as info:
        _uploader(**{argument: value})
    message = str(info.value)
    assert text in message
    assert argument.split("[")[0] in message
    assert TOKEN not in message and TOKEN.lower() not in message.lower()


def test_loading_urls_without_a_host_fails_at_construction():
    with pytest.raises(ValueError, match="base must be an absolute http"):
        loading_urls("http://", [1])


@pytest.mark.parametrize("maker", [HeaderAuth, QueryParamsAuth])
@pytest.mark.parametrize("token", [f"{TOKEN}\r\n", f"a\n{TOKEN}", f"{TOKEN}\x00"])
def test_a_token_with_control_characters_is_refused_without_showing_it(maker, token):
    with pytest.raises(ValueError, match="token must not contain control characters") as info:
        maker("X-API-Key", token)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("make", [lambda t: BearerAuth(t), lambda t: BasicAuth("user", t)])
def test_bearer_and_basic_refuse_control_characters_too(make):
    with pytest.raises(ValueError, match="must not contain control characters") as info:
        make(f"{TOKEN}\r\nX: y")
    assert TOKEN not in str(info.value)


def test_get_api_call_without_a_client_is_a_clear_type_error():
    with pytest.raises(TypeError, match=r"GetAPICall needs client=httpx.AsyncClient\(...\), got NoneType"):
        GetAPICall(client=None, url=GOOD_URL)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="url must be a string URL"):
        GetAPICall(client=httpx.AsyncClient(), url=None)  # type: ignore[arg-type]


async def test_a_large_max_concurrency_with_a_short_generator_is_bounded(demo):
    # the cap (4096) is accepted; the run spawns at most that many workers and returns promptly
    store = ListStore()
    urls = (f"{demo.url}/items/{i}" for i in range(3))
    report = await UploadedData(store, url_maker=urls, max_concurrency=4096).run()
    assert report.succeeded == 3
    assert sorted(item["id"] for item in store.saved_data()) == [0, 1, 2]
