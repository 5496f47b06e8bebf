"""Retry behaviour: what is retried, Retry-After in both forms, a user policy replaces the default, and
the success path never enters tenacity. HTTP behaviour is unit-tested with respx (httpx backend);
Retry-After timing end to end against the loopback server."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest
import respx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_none

from airflow_provider_bulk_uploader import (
    FetchError,
    GetAPICall,
    HTTPStatusError,
    ListStore,
    UploadedData,
    default_retry_policy,
)
from airflow_provider_bulk_uploader.engine.retries import MAX_RETRY_AFTER_SECONDS, parse_retry_after
from tests.support.retry import fast_policy

from .conftest import BACKENDS

BASE = "https://api.test"

# ---- parse_retry_after ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-5", 0.0),  # never negative
        ("999999", MAX_RETRY_AFTER_SECONDS),  # clipped
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value, expected):
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    in_90_s = email.utils.formatdate(now + 90, usegmt=True)  # e.g. "Tue, 14 Nov 2023 22:14:50 GMT"
    assert parse_retry_after(in_90_s, now=now) == pytest.approx(90.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    far = email.utils.formatdate(now + 86_400, usegmt=True)
    assert parse_retry_after(far, now=now) == MAX_RETRY_AFTER_SECONDS
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 12) == pytest.approx(12.0)
    # without `now`, the wall clock is used
    assert 25 <= parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) <= 30


def test_default_retry_policy_rejects_nonsense():
    with pytest.raises(ValueError, match="max_attempts"):
        default_retry_policy(0)
    with pytest.raises(ValueError, match="initial_wait"):
        default_retry_policy(initial_wait=-1)


# ---- what is retried (respx, httpx backend) -------------------------------------------------------


def _uploader(urls, **kwargs):
    kwargs.setdefault("http_backend", "httpx")
    store = ListStore()
    return store, UploadedData(store, url_maker=urls, **kwargs)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 422])
@respx.mock
async def test_4xx_other_than_408_and_429_is_not_retried_by_the_default_policy(status):
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status, json={"error": "no"}))
    _store, uploader = _uploader([f"{BASE}/x"])  # retry_policy=None: the real default
    report = await uploader.run()
    assert route.call_count == 1
    assert report.failed == 1 and report.attempts == 1
    failure = report.failures[0]
    assert (failure.status, failure.attempts) == (status, 1)
    assert str(status) in failure.error


@pytest.mark.parametrize("status", [400, 404])
@respx.mock
async def test_4xx_is_not_retried_by_the_default_predicate_inside_tenacity(status):
    """Same, when the default policy is passed explicitly (so the engine enters tenacity)."""
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status))
    _store, uploader = _uploader([f"{BASE}/x"], retry_policy=fast_policy(5))
    report = await uploader.run()
    assert route.call_count == 1 and report.failures[0].attempts == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
@respx.mock
async def test_408_429_and_5xx_are_retried(status):
    headers = {"Retry-After": "0"} if status == 429 else {}
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[httpx.Response(status, headers=headers), httpx.Response(200, json={"ok": status})]
    )
    store, uploader = _uploader([f"{BASE}/x"], retry_policy=fast_policy(3))
    report = await uploader.run()
    assert route.call_count == 2
    assert report.succeeded == 1 and report.attempts == 2
    assert store.saved_data() == [{"ok": status}]


@respx.mock
async def test_default_policy_retries_5xx_with_a_real_backoff():
    flaky = respx.get(f"{BASE}/flaky").mock(side_effect=[httpx.Response(503), httpx.Response(200, json=1)])
    store, uploader = _uploader([f"{BASE}/flaky"])  # retry_policy=None: the real default
    started = time.monotonic()
    report = await uploader.run()
    assert flaky.call_count == 2 and report.succeeded == 1 and store.saved_data() == [1]
    # default: 0.5 s * 2**0 plus up to 0.5 s of jitter before the second attempt
    assert 0.45 <= time.monotonic() - started < 1.5


@respx.mock
async def test_transport_errors_are_retried():
    route = respx.get(f"{BASE}/x").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("dropped"),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    store, uploader = _uploader([f"{BASE}/x"], retry_policy=fast_policy(4))
    report = await uploader.run()
    assert route.call_count == 4 and report.succeeded == 1 and store.saved_data() == [{"ok": True}]


@respx.mock
async def test_invalid_json_in_a_200_is_a_failure_not_retried_not_a_crash():
    route = respx.get(f"{BASE}/bad").mock(return_value=httpx.Response(200, content=b"<html>oops"))
    respx.get(f"{BASE}/good").mock(return_value=httpx.Response(200, json={"fine": 1}))
    store, uploader = _uploader([f"{BASE}/bad", f"{BASE}/good"], retry_policy=fast_policy(3))
    report = await uploader.run()
    assert route.call_count == 1
    assert store.saved_data() == [{"fine": 1}]
    failure = report.failures[0]
    assert (failure.status, failure.attempts) == (200, 1)
    assert "not valid JSON" in failure.error


# ---- a user-supplied policy replaces the default ---------------------------------------------------


@respx.mock
async def test_user_policy_replaces_the_default_retrying_what_the_default_would_not():
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(404))
    policy = AsyncRetrying(
        stop=stop_after_attempt(4), wait=wait_none(), retry=retry_if_exception_type(FetchError), reraise=True
    )
    _store, uploader = _uploader([f"{BASE}/x"], retry_policy=policy)
    report = await uploader.run()
    assert route.call_count == 4  # the default never retries a 404
    assert report.failures[0].attempts == 4 and report.failures[0].status == 404


@respx.mock
async def test_user_policy_stop_is_honoured_and_reraise_false_still_reports_the_status():
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(503))
    policy = AsyncRetrying(stop=stop_after_attempt(2), wait=wait_none(), reraise=False)
    _store, uploader = _uploader([f"{BASE}/x"], retry_policy=policy)
    report = await uploader.run()
    assert route.call_count == 2  # not the default's 5
    failure = report.failures[0]
    assert (failure.status, failure.attempts) == (503, 2)
    assert "503" in failure.error


@respx.mock
async def test_user_policy_is_passed_to_custom_api_call_factories():
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, json=1))
    seen = []

    class Recording:
        def __init__(self, client, url, retry_policy=None):
            seen.append(retry_policy)
            self.call = GetAPICall(client, url, retry_policy)

        async def content(self):
            return await self.call.content()

    policy = fast_policy(2)
    report = await UploadedData(ListStore(), Recording, [f"{BASE}/x"], retry_policy=policy).run()
    assert report.succeeded == 1
    assert seen == [policy]


def test_retry_policy_must_look_like_tenacity():
    with pytest.raises(TypeError, match="retry_policy"):
        UploadedData(ListStore(), url_maker=[f"{BASE}/x"], retry_policy=3)


# ---- the success path never enters tenacity --------------------------------------------------------


class _Entered(Exception):
    pass


@pytest.fixture
def tenacity_forbidden(monkeypatch):
    """Make any use of AsyncRetrying (copy or iteration) blow up."""

    def boom(*_args, **_kwargs):
        raise _Entered("retry machinery entered")

    monkeypatch.setattr(AsyncRetrying, "copy", boom)
    monkeypatch.setattr(AsyncRetrying, "__aiter__", boom)
    monkeypatch.setattr(AsyncRetrying, "__call__", boom)


@pytest.mark.parametrize("policy", [None, "fast"])
@respx.mock
async def test_success_path_does_not_touch_the_retry_machinery(tenacity_forbidden, policy):
    respx.get(url__regex=rf"{BASE}/items/\d+").mock(side_effect=lambda req: httpx.Response(200, json=1))
    urls = [f"{BASE}/items/{i}" for i in range(50)]
    store, uploader = _uploader(urls, retry_policy=fast_policy(3) if policy else None)
    report = await uploader.run()
    assert report.succeeded == 50 and report.failed == 0 and len(store.saved_data()) == 50


@respx.mock
async def test_the_forbidden_fixture_does_catch_a_retry(tenacity_forbidden):
    """Control for the test above: a failing attempt does reach the patched tenacity."""
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(503))
    _store, uploader = _uploader([f"{BASE}/x"], retry_policy=fast_policy(3))
    report = await uploader.run()
    assert report.failed == 1 and "retry machinery entered" in report.failures[0].error


async def test_success_path_on_the_aiohttp_backend_does_not_touch_the_retry_machinery(
    tenacity_forbidden, demo
):
    report = await UploadedData(ListStore(), url_maker=[f"{demo.url}/items/{i}" for i in range(30)]).run()
    assert report.succeeded == 30


# ---- Retry-After end to end (real server) ----------------------------------------------------------


def _gap_between_attempts(demo, path_prefix):
    times = sorted(r.arrival for r in demo.requests if r.path.startswith(path_prefix))
    assert len(times) == 2, times
    return times[1] - times[0]


@pytest.mark.integration
@pytest.mark.parametrize("backend", BACKENDS)
async def test_retry_after_seconds_is_honoured(demo, backend):
    # fallback backoff is 10 ms: only Retry-After can explain a ~1 s gap
    url = f"{demo.url}/flaky/ra?fails=1&status=503&retry_after=1"
    store = ListStore()
    report = await UploadedData(
        store, url_maker=[url], retry_policy=fast_policy(3), http_backend=backend
    ).run()
    assert report.succeeded == 1 and report.attempts == 2
    assert 0.95 <= _gap_between_attempts(demo, "/flaky/ra") < 1.8


@pytest.mark.integration
async def test_retry_after_http_date_is_honoured(demo):
    # an HTTP date has whole seconds: 2.5 s ahead, truncated, is 1.5 to 2.5 s from now; the fallback
    # backoff (10 ms) cannot explain a gap of a second, the header is honoured
    when = email.utils.formatdate(time.time() + 2.5, usegmt=True)
    url = f"{demo.url}/flaky/rd?fails=1&status=503&retry_after={when.replace(' ', '%20')}"
    report = await UploadedData(ListStore(), url_maker=[url], retry_policy=fast_policy(3)).run()
    assert report.succeeded == 1 and report.attempts == 2
    assert 1.2 <= _gap_between_attempts(demo, "/flaky/rd") < 3.1


@respx.mock
async def test_retry_after_is_recorded_on_the_error_and_in_the_message():
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(429, headers={"Retry-After": "0"}))
    _store, uploader = _uploader([f"{BASE}/x"], retry_policy=fast_policy(2))
    report = await uploader.run()
    failure = report.failures[0]
    assert (failure.status, failure.attempts) == (429, 2)
    assert "Retry-After 0 s" in failure.error
    assert issubclass(HTTPStatusError, FetchError)


def test_default_backoff_is_exponential_capped_and_jittered():
    from tenacity import RetryCallState

    from airflow_provider_bulk_uploader.engine.errors import TransportError

    def wait_before_attempt(policy, n: int) -> float:
        state = RetryCallState(policy, fn=None, args=(), kwargs={})
        state.attempt_number = n
        state.set_exception((TransportError, TransportError("x", url="u"), None))
        return policy.wait(state)

    steady = default_retry_policy(initial_wait=0.5, max_wait=4, jitter=0)
    assert [wait_before_attempt(steady, n) for n in range(1, 7)] == [0.5, 1, 2, 4, 4, 4]
    jittered = default_retry_policy(initial_wait=0.5, max_wait=4, jitter=0.25)
    waits = [wait_before_attempt(jittered, 2) for _ in range(50)]
    assert all(1 <= w <= 1.25 for w in waits) and len(set(waits)) > 1
