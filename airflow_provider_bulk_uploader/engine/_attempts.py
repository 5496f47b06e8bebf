"""Step 2 of a run: one URL's attempts — a rate-limit slot, the shared cool-down, the request, and the
retry policy after a first failure — ending in the parsed body or a :class:`~.report.Failure` entry."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tenacity import AsyncRetrying, RetryError

from ._transports import Fetch
from .errors import FetchError, LongWait, RateLimitBackendError
from .ratelimit import Limiter
from .redaction import redact_url
from .report import Failure, FetchReport
from .responses import to_fetch_error
from .retries import CoolDown, after_rejection

logger = logging.getLogger("airflow_provider_bulk_uploader")

#: What :meth:`Attempts.fetch` returns for a URL that failed for good (already in the report).
FAILED: Any = object()


class Attempts:
    """Fetch one URL at a time under a limiter, a cool-down shared by all workers and a retry policy.

    :param policy: the tenacity policy entered after a failed first attempt.
    :param default_policy: ``policy`` is the engine's default, so a non-retryable first error (a 404) ends
        the URL at once without entering tenacity.
    :param max_wait: seconds; a pause longer than this (an answer's ``Retry-After`` before its cap, or the
        shared cool-down left) raises :class:`~.errors.LongWait` instead of being waited out. ``None``
        (default): every pause is waited out.
    """

    def __init__(
        self,
        report: FetchReport,
        limiter: Limiter | None,
        policy: AsyncRetrying,
        *,
        default_policy: bool,
        max_wait: float | None = None,
    ) -> None:
        self.report = report
        self.limiter = limiter
        self.cooldown = CoolDown()
        self.policy = policy
        self.default_policy = default_policy
        self.max_wait = max_wait
        self.debug = logger.isEnabledFor(logging.DEBUG)
        if limiter is not None:  # lowered by after_rejection when the limiter adapts
            report.effective_rate_min = limiter.rate.requests_per_second

    async def fetch(self, url: str, fetch: Fetch, *, stream: str | None = None) -> Any:
        """The parsed body of ``url``, or :data:`FAILED` once the policy gave up (the failure is reported;
        ``stream``: the start URL of the paginated stream ``url`` belongs to, recorded with the failure)."""
        try:
            return await self.attempt(url, fetch)
        except FetchError as first:
            return await self._retry(url, fetch, first, stream)

    async def attempt(self, url: str, fetch: Fetch) -> Any:
        """One request: take a rate-limit slot, wait out any shared cool-down, send, give the slot back.

        The cool-down is checked *after* the slot is granted: a worker that was queued for a slot when a
        429 arrived must not send during the pause. It gives the slot back and waits without holding it
        (a slot held in Redis has a lease that must not run out before the request is sent)."""
        cooldown, limiter = self.cooldown, self.limiter
        ticket = await limiter.acquire() if limiter is not None else None
        while cooldown.paused and cooldown.remaining() > 0:  # one attribute check unless a pause was set
            if limiter is not None:
                limiter.release(ticket)
            if self.max_wait is not None:
                self._check_wait(cooldown.remaining(), None)
            await cooldown.wait()
            if limiter is not None:
                ticket = await limiter.acquire()
        started = time.monotonic() if self.debug else 0.0
        sent = asyncio.get_running_loop().time()
        try:
            self.report.attempts += 1
            data = await fetch(url)
        except Exception as exc:
            error = to_fetch_error(exc, url)
            if error.status in (429, 503):  # a pause for everyone, or a lower pace (retries.after_rejection)
                after_rejection(error, sent, cooldown=cooldown, limiter=limiter, report=self.report)
            if self.max_wait is not None and error.requested_wait is not None:
                self._check_wait(error.requested_wait, error.url)
            if self.debug:
                logger.debug("GET %s failed after %.1f ms: %s", error.url, _ms_since(started), error)
            raise error from None
        finally:
            if limiter is not None:
                limiter.release(ticket)
        if self.debug:
            logger.debug("GET %s ok in %.1f ms", redact_url(url), _ms_since(started))
        return data

    async def _retry(self, url: str, fetch: Fetch, first: FetchError, stream: str | None = None) -> Any:
        """Continue after a failed first attempt under the retry policy; :data:`FAILED` if it gives up."""
        attempts = 1
        if self.default_policy and not first.retryable:
            self.fail(url, first.status, str(first), attempts, stream=stream)
            return FAILED
        pending: list[BaseException] = [first]
        last: BaseException = first
        try:
            async for attempt in self.policy.copy():
                with attempt:
                    if pending:
                        raise pending.pop()  # replay the first failure so tenacity counts and waits for it
                    attempts += 1
                    return await self.attempt(url, fetch)
        except LongWait:
            raise
        except RetryError as exc:
            last = exc.last_attempt.exception() or exc
            if isinstance(last, LongWait):  # a user policy that retried it
                raise last from None
        except FetchError as exc:
            last = exc
        except RateLimitBackendError:
            raise  # the run stops: no URL is at fault
        except Exception as exc:  # a user policy may raise anything (e.g. from a callback)
            last = to_fetch_error(exc, url)
        error = last if isinstance(last, FetchError) else to_fetch_error(last, url)
        self.fail(url, error.status, str(error), attempts, stream=stream)
        return FAILED

    def _check_wait(self, seconds: float, url: str | None) -> None:
        """Raise :class:`~.errors.LongWait` when a pause of ``seconds`` exceeds ``max_wait``."""
        if self.max_wait is not None and seconds > self.max_wait:
            raise LongWait(until=time.time() + seconds, seconds=seconds, url=url)

    def fail(
        self, url: str, status: int | None, error: str, attempts: int, *, stream: str | None = None
    ) -> None:
        """Count ``url`` as failed for good, in the report and in a WARNING line (URL redacted). A page of a
        paginated ``stream`` (its start URL) is recorded with it, and its stream as incomplete."""
        report = self.report
        report.failed += 1
        if stream is None:
            report.failures.append(
                Failure(url=redact_url(url), status=status, error=error, attempts=attempts)
            )
            logger.warning("GET %s failed after %d attempt(s): %s", redact_url(url), attempts, error)
            return
        shown = redact_url(stream)
        report.failures.append(
            Failure(redact_url(url), status, error, attempts, stream=shown, stream_incomplete=True)
        )
        logger.warning(
            "GET %s (page of stream %s) failed after %d attempt(s): %s; the stream is incomplete",
            redact_url(url),
            shown,
            attempts,
            error,
        )


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
