"""Step 2 of a run: one URL's attempts — a rate-limit slot, the shared cool-down, the request, and the
retry policy after a first failure — ending in the parsed body or a :class:`~.report.Failure` entry."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from tenacity import AsyncRetrying, RetryError

from ._types import FAILED, Fetch
from .errors import AuthenticationError, FetchError, LongWait, RateLimitBackendError, StaleCredentialsError
from .observe import RunObserver, status_class
from .ratelimit import Limiter
from .redaction import redact_url
from .report import Failure, FetchReport
from .requests import resend_safe
from .responses import to_fetch_error
from .retries import CoolDown, after_rejection

__all__ = ["FAILED", "Attempts"]

logger = logging.getLogger("airflow_provider_bulk_uploader")


class Attempts:
    """Fetch one URL at a time under a limiter, a cool-down shared by all workers and a retry policy.

    :param policy: the tenacity policy entered after a failed first attempt.
    :param default_policy: ``policy`` is the engine's default, so a non-retryable first error (a 404) ends
        the URL at once without entering tenacity.
    :param max_wait: seconds; a pause longer than this (an answer's ``Retry-After`` before its cap, or the
        shared cool-down left) raises :class:`~.errors.LongWait` instead of being waited out. ``None``
        (default): every pause is waited out.
    :param observer: a :class:`~.observe.RunObserver` (metrics), or ``None`` (default).
    """

    def __init__(
        self,
        report: FetchReport,
        limiter: Limiter | None,
        policy: AsyncRetrying,
        *,
        default_policy: bool,
        max_wait: float | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self.report = report
        #: told of each request, wait, rejection and retry (``None``: no call, no extra clock reading)
        self.observer = observer
        self.limiter = limiter
        self.cooldown = CoolDown()
        self.policy = policy
        self.default_policy = default_policy
        self.max_wait = max_wait
        self.debug = logger.isEnabledFor(logging.DEBUG)
        if limiter is not None:  # lowered by after_rejection when the limiter adapts
            report.effective_rate_min = limiter.rate.requests_per_second

    async def fetch(
        self,
        url: str,
        fetch: Fetch,
        *,
        stream: str | None = None,
        method: str = "GET",
        resend: bool = True,
        ids: tuple[Any, ...] | None = None,
    ) -> Any:
        """The parsed body of ``url``, or :data:`FAILED` once the policy gave up (the failure is reported;
        ``stream``: the start URL of the paginated stream ``url`` belongs to, recorded with the failure).

        :param method: the request's method (log lines and the failure record say it).
        :param resend: whether every retryable error may be retried; ``False`` (a ``POST``/``PATCH``
            without ``retry_non_idempotent``): only an error after which the server cannot have processed
            the request (:func:`~.requests.resend_safe`) is retried.
        :param ids: the ids the request carries (listed with its failure)."""
        try:
            return await self.attempt(url, fetch, method)
        except StaleCredentialsError:
            # a 401 to credentials since renewed (a revoked OAuth2 token): once more, outside the policy
            if self.observer is not None:
                self.observer.on_retry()
        except FetchError as first:
            return await self._retry(url, fetch, first, stream, method=method, resend=resend, ids=ids)
        try:  # a 401 means the server refused the request: resending it is safe for every method
            return await self.attempt(url, fetch, method)
        except FetchError as first:
            return await self._retry(url, fetch, first, stream, method=method, resend=resend, ids=ids)

    async def attempt(self, url: str, fetch: Fetch, method: str = "GET") -> Any:
        """One request: take a rate-limit slot, wait out any shared cool-down, send, give the slot back.

        The cool-down is checked *after* the slot is granted: a worker that was queued for a slot when a
        429 arrived must not send during the pause. It gives the slot back and waits without holding it
        (a slot held in Redis has a lease that must not run out before the request is sent)."""
        cooldown, limiter, observer = self.cooldown, self.limiter, self.observer
        waiting = time.perf_counter() if observer is not None else 0.0
        ticket = await limiter.acquire() if limiter is not None else None
        paused = False
        while cooldown.paused and cooldown.remaining() > 0:  # one attribute check unless a pause was set
            paused = True
            if limiter is not None:
                limiter.release(ticket)
            if self.max_wait is not None:
                self._check_wait(cooldown.remaining(), None)
            await cooldown.wait()
            if limiter is not None:
                ticket = await limiter.acquire()
        started = time.monotonic() if self.debug else 0.0
        sent = asyncio.get_running_loop().time()
        if observer is not None:
            clock = time.perf_counter()
            if limiter is not None or paused:
                observer.on_wait(clock - waiting)
        try:
            self.report.attempts += 1
            data = await fetch(url)
        except AuthenticationError:
            raise  # no credentials for any request: the run stops
        except Exception as exc:
            error = to_fetch_error(exc, url, method)
            if observer is not None:
                observer.on_request(method, status_class(error.status), time.perf_counter() - clock)
            if error.status == 429 or error.status == 503:  # a pause for everyone, or a lower pace
                if observer is not None:
                    observer.on_rejection(error.status)
                after_rejection(error, sent, cooldown=cooldown, limiter=limiter, report=self.report)
            if self.max_wait is not None and error.requested_wait is not None:
                self._check_wait(error.requested_wait, error.url)
            if self.debug:
                logger.debug("%s %s failed after %.1f ms: %s", method, error.url, _ms_since(started), error)
            raise error from None
        finally:
            if limiter is not None:
                limiter.release(ticket)
        if observer is not None:
            observer.on_request(method, "2xx", time.perf_counter() - clock)
        if self.debug:
            logger.debug("%s %s ok in %.1f ms", method, redact_url(url), _ms_since(started))
        return data

    async def _retry(
        self,
        url: str,
        fetch: Fetch,
        first: FetchError,
        stream: str | None = None,
        *,
        method: str = "GET",
        resend: bool = True,
        ids: tuple[Any, ...] | None = None,
    ) -> Any:
        """Continue after a failed first attempt under the retry policy; :data:`FAILED` if it gives up.
        Without ``resend`` an error the server may have acted on ends the request whatever the policy says
        (urllib3's ``allowed_methods``): a POST is never sent twice unless it is safe."""
        attempts = 1
        if (self.default_policy and not first.retryable) or not (resend or resend_safe(first)):
            self.fail(
                url, first.status, _unsafe(first, resend), attempts, stream=stream, method=method, ids=ids
            )
            return FAILED
        pending: list[BaseException] = [first]
        last: BaseException = first
        try:
            async for attempt in self.policy.copy():
                with attempt:
                    if pending:
                        raise pending.pop()  # replay the first failure so tenacity counts and waits for it
                    attempts += 1
                    if self.observer is not None:
                        self.observer.on_retry()
                    return await self.attempt(url, fetch, method)
                outcome = attempt.retry_state.outcome  # the attempt failed: may it be sent again?
                failed = outcome.exception() if outcome is not None and outcome.failed else None
                if not resend and isinstance(failed, FetchError) and not resend_safe(failed):
                    self.fail(
                        url,
                        failed.status,
                        _unsafe(failed, resend),
                        attempts,
                        stream=stream,
                        method=method,
                        ids=ids,
                    )
                    return FAILED
        except LongWait:
            raise
        except RetryError as exc:
            last = exc.last_attempt.exception() or exc
            if isinstance(last, (LongWait, AuthenticationError)):  # a user policy that retried it
                raise last from None
        except FetchError as exc:
            last = exc
        except (RateLimitBackendError, AuthenticationError):
            raise  # the run stops: no URL is at fault
        except Exception as exc:  # a user policy may raise anything (e.g. from a callback)
            last = to_fetch_error(exc, url)
        error = last if isinstance(last, FetchError) else to_fetch_error(last, url, method)
        self.fail(url, error.status, str(error), attempts, stream=stream, method=method, ids=ids)
        return FAILED

    def _check_wait(self, seconds: float, url: str | None) -> None:
        """Raise :class:`~.errors.LongWait` when a pause of ``seconds`` exceeds ``max_wait``."""
        if self.max_wait is not None and seconds > self.max_wait:
            raise LongWait(until=time.time() + seconds, seconds=seconds, url=url)

    def fail(
        self,
        url: str,
        status: int | None,
        error: str,
        attempts: int,
        *,
        stream: str | None = None,
        method: str = "GET",
        ids: tuple[Any, ...] | None = None,
    ) -> None:
        """Count ``url`` as failed for good, in the report and in a WARNING line (URL redacted; never a
        body, never the ids: the record lists them). A page of a paginated ``stream`` (its start URL) is
        recorded with it, and its stream as incomplete."""
        report = self.report
        report.failed += 1
        extra: dict[str, Any] = {} if method == "GET" and not ids else {"method": method, "ids": ids or None}
        if ids:
            report.ids_failed += len(ids)
        if stream is None:
            report.failures.append(
                Failure(url=redact_url(url), status=status, error=error, attempts=attempts, **extra)
            )
            logger.warning("%s %s failed after %d attempt(s): %s", method, redact_url(url), attempts, error)
            return
        shown = redact_url(stream)
        report.failures.append(
            Failure(redact_url(url), status, error, attempts, stream=shown, stream_incomplete=True, **extra)
        )
        logger.warning(
            "%s %s (page of stream %s) failed after %d attempt(s): %s; the stream is incomplete",
            method,
            redact_url(url),
            shown,
            attempts,
            error,
        )


def _unsafe(error: FetchError, resend: bool) -> str:
    """The failure text; says why a non-idempotent request that could have been retried was not."""
    if resend or not error.retryable:
        return str(error)
    return (
        f"{error} (not retried: the server may have processed this non-idempotent request; "
        "set retry_non_idempotent=True for a read-only POST)"
    )


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000.0
