"""engine/_attempts.py on its own: one URL's attempts with a hand-made ``fetch`` and limiter on the virtual
clock (no HTTP). The first attempt is made outside tenacity; a non-retryable first error ends the URL at once
under the default policy; a pause longer than ``max_wait`` is a :class:`LongWait`; the shared cool-down is
checked after a slot is granted and the slot is given back while waiting; a 429 pauses the limiter too; a
URL that failed for good is reported with its attempts (and its stream)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from tenacity import AsyncRetrying, stop_after_attempt, wait_none

from airflow_provider_bulk_uploader import FetchReport, Ratelimit
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine._attempts import FAILED, Attempts
from airflow_provider_bulk_uploader.engine.errors import (
    FetchError,
    HTTPStatusError,
    LongWait,
    RateLimitBackendError,
)
from airflow_provider_bulk_uploader.engine.redaction import register_secret
from tests.support.retry import fast_policy

from .conftest import secret
from .virtual_clock import run_virtual

URL = "https://api.test/items/1"


def now() -> float:
    return asyncio.get_running_loop().time()


class GateLimiter:
    """A limiter that records ``(event, ticket, loop time)``; ``acquire`` waits for ``gate`` when one is set
    (a worker queued for a slot) and raises ``fail`` when given (a lost Redis)."""

    def __init__(self) -> None:
        self.rate = Ratelimit(10, timedelta(seconds=1))
        self.tickets = itertools.count()
        self.events: list[tuple[str, int, float]] = []
        self.pauses: list[float] = []
        self.gate: asyncio.Event | None = None
        self.fail: BaseException | None = None

    async def acquire(self) -> int:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        ticket = next(self.tickets)
        self.events.append(("acquire", ticket, now()))
        return ticket

    def release(self, ticket: Any = None) -> None:
        self.events.append(("release", ticket, now()))

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)

    def free_again_at(self) -> float:
        return float("-inf")

    async def aclose(self) -> None:
        pass


class NoTenacity(AsyncRetrying):
    """A policy that must not be entered."""

    def copy(self, *args: Any, **kwargs: Any) -> AsyncRetrying:
        raise AssertionError("the retry policy was entered")


def answers(*outcomes: Any) -> tuple[Callable[[str], Any], list[float]]:
    """A ``fetch`` that raises or returns ``outcomes`` in turn (the last one for good), and the loop times
    at which it was called."""
    calls: list[float] = []

    async def fetch(url: str) -> Any:
        calls.append(now())
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return fetch, calls


def status(code: int, retry_after: float | None = None, requested_wait: float | None = None) -> Exception:
    return HTTPStatusError(url=URL, status=code, retry_after=retry_after, requested_wait=requested_wait)


# ---- the first attempt, and the way into tenacity ---------------------------------------------------------


def test_a_first_success_never_enters_the_policy():
    async def scenario():
        report = FetchReport()
        fetch, calls = answers({"id": 1})
        body = await Attempts(report, None, NoTenacity(), default_policy=True).fetch(URL, fetch)
        return body, calls, report

    body, calls, report = run_virtual(scenario())
    assert body == {"id": 1} and len(calls) == 1
    assert (report.attempts, report.failed, report.failures) == (1, 0, [])


@pytest.mark.parametrize("code", [400, 404])
def test_a_non_retryable_first_error_ends_at_once_under_the_default_policy(code):
    async def scenario():
        report = FetchReport()
        fetch, calls = answers(status(code))
        result = await Attempts(report, None, NoTenacity(), default_policy=True).fetch(URL, fetch)
        return result, calls, report

    result, calls, report = run_virtual(scenario())
    assert result is FAILED and len(calls) == 1
    assert report.failed == 1 and report.attempts == 1
    (failure,) = report.failures
    assert (failure.url, failure.status, failure.attempts) == (URL, code, 1)
    assert str(code) in failure.error


def test_a_user_policy_decides_even_on_a_non_retryable_first_error():
    """``default_policy=False``: the user's policy (here: retry anything, 3 attempts) is entered after the
    first failure, with that failure counted as its first attempt."""
    policy = AsyncRetrying(stop=stop_after_attempt(3), wait=wait_none(), reraise=True)

    async def scenario():
        report = FetchReport()
        fetch, calls = answers(status(404))
        result = await Attempts(report, None, policy, default_policy=False).fetch(URL, fetch)
        return result, calls, report

    result, calls, report = run_virtual(scenario())
    assert result is FAILED and len(calls) == 3
    assert report.attempts == 3 and report.failures[0].attempts == 3


def test_retries_follow_the_policy_and_count_every_attempt():
    async def scenario():
        report = FetchReport()
        attempts = Attempts(report, None, fast_policy(3), default_policy=True)
        fetch, calls = answers(status(503), ConnectionResetError("peer reset"), {"ok": True})
        recovered = await attempts.fetch(URL, fetch)
        fetch, _ = answers(status(503), status(502), status(500))
        gave_up = await attempts.fetch("https://api.test/items/2", fetch)
        return recovered, gave_up, calls, report

    recovered, gave_up, calls, report = run_virtual(scenario())
    assert recovered == {"ok": True} and len(calls) == 3  # a reset (not a FetchError) is retried too
    assert gave_up is FAILED
    assert report.attempts == 6 and report.failed == 1
    (failure,) = report.failures
    assert (failure.url, failure.status, failure.attempts) == ("https://api.test/items/2", 500, 3)
    assert failure.stream is None and failure.stream_incomplete is None


def test_an_error_raised_by_a_user_policy_is_a_failure_not_a_crash():
    def broken_callback(state: Any) -> None:
        raise RuntimeError("callback bug")

    policy = AsyncRetrying(stop=stop_after_attempt(3), wait=wait_none(), before_sleep=broken_callback)

    async def scenario():
        report = FetchReport()
        fetch, _ = answers(status(503))
        return await Attempts(report, None, policy, default_policy=False).fetch(URL, fetch), report

    result, report = run_virtual(scenario())
    assert result is FAILED and report.failed == 1
    assert "RuntimeError" in report.failures[0].error and "callback bug" in report.failures[0].error


def test_a_limiter_backend_failure_during_retries_stops_the_url_without_a_failure_entry():
    async def scenario():
        limiter, report = GateLimiter(), FetchReport()

        async def fetch(url: str) -> Any:
            limiter.fail = RateLimitBackendError("lost Redis at 127.0.0.1:1/0")  # before the retry's slot
            raise status(503)

        with pytest.raises(RateLimitBackendError, match="lost Redis"):
            await Attempts(report, limiter, fast_policy(3), default_policy=True).fetch(URL, fetch)
        return report

    report = run_virtual(scenario())
    assert report.failed == 0 and report.failures == []


# ---- pauses: the shared cool-down, the limiter, max_wait ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "pause"),
    [
        (status(429, retry_after=2.0), 2.0),
        (status(429), defaults.PAUSE_AFTER_429_SECONDS),  # a 429 without Retry-After still pauses
        (status(503, retry_after=3.0), 3.0),
        (status(503), None),  # a plain 503: backoff for this URL only, no shared pause
        (status(500, retry_after=4.0), None),
    ],
)
def test_a_429_or_a_503_with_retry_after_pauses_the_cool_down_and_the_limiter(error, pause):
    async def scenario():
        limiter = GateLimiter()
        attempts = Attempts(FetchReport(), limiter, NoTenacity(), default_policy=False)
        fetch, _ = answers(error)
        with pytest.raises(FetchError):
            await attempts.attempt(URL, fetch)
        return limiter, attempts.cooldown.remaining()

    limiter, remaining = run_virtual(scenario())
    assert limiter.pauses == ([] if pause is None else [pause])
    assert remaining == (0.0 if pause is None else pause)
    assert [kind for kind, *_ in limiter.events] == ["acquire", "release"]  # the slot comes back on failure


def test_the_cool_down_is_checked_after_the_slot_is_granted_and_the_slot_given_back_while_waiting():
    """A worker queued for a slot when a 429 arrived must not send during the pause: it gets the slot, sees
    the pause, gives the slot back, waits without it, and sends on a new slot after the pause."""

    async def scenario():
        limiter = GateLimiter()
        limiter.gate = asyncio.Event()
        attempts = Attempts(FetchReport(), limiter, NoTenacity(), default_policy=False)
        fetch, calls = answers({"id": 1})
        task = asyncio.ensure_future(attempts.attempt(URL, fetch))
        await asyncio.sleep(0)  # the worker is queued for a slot
        attempts.cooldown.pause(5.0)  # meanwhile another worker's 429 starts a 5 s pause
        limiter.gate.set()
        return await task, calls, limiter.events

    body, calls, events = run_virtual(scenario())
    assert body == {"id": 1}
    assert calls == [5.0], "sent once, after the pause"
    assert events == [("acquire", 0, 0.0), ("release", 0, 0.0), ("acquire", 1, 5.0), ("release", 1, 5.0)]


def test_a_pause_within_max_wait_is_waited_out():
    async def scenario():
        attempts = Attempts(FetchReport(), None, fast_policy(2), default_policy=True, max_wait=10.0)
        fetch, calls = answers(status(429, retry_after=10.0), {"id": 1})
        return await attempts.fetch(URL, fetch), calls

    body, calls = run_virtual(scenario())
    assert body == {"id": 1} and calls[1] - calls[0] >= 10.0


@pytest.mark.parametrize("max_wait", [None, 60.0])
def test_a_retry_after_beyond_max_wait_is_a_long_wait_not_a_failure(max_wait):
    """What is compared is the wait the server asked for (``requested_wait``, before the retry cap)."""

    async def scenario():
        report = FetchReport()
        attempts = Attempts(report, None, fast_policy(2), default_policy=True, max_wait=max_wait)
        fetch, calls = answers(status(429, retry_after=120.0, requested_wait=3600.0), {"id": 1})
        try:
            return await attempts.fetch(URL, fetch), report, calls
        except LongWait as stop:
            return stop, report, calls

    outcome, report, calls = run_virtual(scenario())
    if max_wait is None:  # every pause is waited out (the capped 120 s)
        assert outcome == {"id": 1} and calls[1] - calls[0] >= 120.0
        return
    assert isinstance(outcome, LongWait) and len(calls) == 1
    assert (outcome.seconds, outcome.url) == (3600.0, URL)
    assert report.failed == 0 and report.failures == []


def test_a_long_wait_asked_for_on_a_retry_also_stops():
    async def scenario():
        report = FetchReport()
        attempts = Attempts(report, None, fast_policy(3), default_policy=True, max_wait=5.0)
        fetch, calls = answers(status(503), status(503, retry_after=30.0))
        with pytest.raises(LongWait) as stop:
            await attempts.fetch(URL, fetch)
        return stop.value, report, calls

    stop, report, calls = run_virtual(scenario())
    assert stop.seconds == 30.0 and len(calls) == 2
    assert report.failed == 0


def test_a_shared_cool_down_beyond_max_wait_is_a_long_wait_before_sending():
    async def scenario():
        limiter = GateLimiter()
        attempts = Attempts(FetchReport(), limiter, NoTenacity(), default_policy=False, max_wait=10.0)
        attempts.cooldown.pause(100.0)  # set by another worker's answer
        fetch, calls = answers({"id": 1})
        with pytest.raises(LongWait) as stop:
            await attempts.attempt(URL, fetch)
        return stop.value, calls, limiter.events

    stop, calls, events = run_virtual(scenario())
    assert stop.url is None and stop.seconds == pytest.approx(100.0)
    assert calls == [], "nothing sent"
    assert [kind for kind, *_ in events] == ["acquire", "release"], "the slot was given back"


# ---- how a failure is reported ---------------------------------------------------------------------------


def test_a_failed_page_is_reported_with_its_stream_redacted(caplog):
    token = secret("stream")
    register_secret(token)
    stream, page = f"https://api.test/pages/{token}", f"https://api.test/pages/{token}?page=3"

    async def scenario():
        report = FetchReport()
        fetch, _ = answers(status(503))
        result = await Attempts(report, None, fast_policy(2), default_policy=True).fetch(
            page, fetch, stream=stream
        )
        return result, report

    caplog.set_level(logging.WARNING, logger="airflow_provider_bulk_uploader")
    result, report = run_virtual(scenario())
    assert result is FAILED and report.failed == 1
    (failure,) = report.failures
    assert failure.url == "https://api.test/pages/***?page=3"
    assert (failure.stream, failure.stream_incomplete) == ("https://api.test/pages/***", True)
    assert failure.attempts == 2 and failure.status == 503
    (line,) = [r.getMessage() for r in caplog.records if "failed after" in r.getMessage()]
    assert "page of stream https://api.test/pages/***" in line and "the stream is incomplete" in line
    assert "2 attempt(s)" in line and token not in caplog.text
