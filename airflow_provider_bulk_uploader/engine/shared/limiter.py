"""One rate budget shared by every process that uses the same key: :class:`RedisLimiter`.

``strict`` mode (:class:`~.strategies.SlotBudget`) keeps the :class:`~..ratelimit.SlotLimiter` guarantee
across processes: ``N`` slots live in Redis; a request holds one from before it is sent until its response (or
error) arrives, and the slot can be taken again ``period`` after that, so at most ``N`` requests arrive at the
server in any window of ``period`` — counted over every process on the key, retries included.

* Each step is one Lua script (atomic; :mod:`.scripts`), timed by Redis ``TIME`` (worker clocks may differ).
* **Leases**: a granted slot carries a lease of ``attempt_timeout`` + ``lease_margin`` (default
  :data:`~..defaults.SHARED_LEASE_MARGIN_SECONDS`).
  A holder that dies (kill -9, OOM) never releases it; the next acquire takes it back and counts it used
  until ``period`` after the lease ended — the request, if it was sent, was sent before that.
* **Round trips**: a process has at most one acquire script in flight (its *leader*); it asks for as many
  slots as the process has waiters, so one round trip grants several slots under load. Releases are sent in
  the background and coalesced (one script for all releases pending). When no slot is free the script says
  when the next one will be (exact for a released slot; ``period`` when all are held) and the leader sleeps
  that long, bounded by :data:`~..defaults.SHARED_POLL_MIN_SECONDS` / ``..._MAX_SECONDS`` (polling with a
  precise hint: no pub/sub connection to keep, nothing lost when Redis restarts).
* **Fairness**: a process gets at most ``ceil(N / active processes)`` slots per round trip (processes seen
  in the last two periods), and a process that has waited longer has first call on freed slots (the slots
  it still wants are reserved for it until the moment it said it would ask again, plus
  :data:`~..defaults.SHARED_RESERVATION_GRACE_SECONDS`, so a slow process cannot idle the budget); a process
  served goes to the back of that queue (round robin).
* **Shared cool-down**: :meth:`RedisLimiter.pause` (a 429, a ``Retry-After``) writes a pause-until time;
  no slot is granted to anyone on the key before it.
* **State lost or partial** (Redis restarted without persistence, flushed, failed over or restored from a
  snapshot; keys evicted or deleted): the budget counts as *used*. Every acquire checks that all N slots are
  accounted for (free, cooling or held); a slot whose grant is still known is held until its release or
  lease end, any other missing slot is free ``period`` after the moment it was found missing — whether or not
  this process saw the budget before; a warning names the Redis address. A budget with no trace at all
  starts free only when the server proves it unused for a period + a lease (``lua/budget.lua``: up longer
  than that, no FLUSHALL/FLUSHDB since it started, no ``allkeys-*`` eviction), else it waits one period
  first. The hash ``…:meta`` has no TTL: its last-call time tells a budget unused for longer than a period +
  a lease (its other keys expired: free) from one lost in use.
* **Loud failure**: Redis unreachable on the first acquire raises :class:`~..errors.RateLimitBackendError`
  at once, naming the limiter and the Redis address (``host:port``, never a password); lost later, the
  leader retries with backoff for ``retry_seconds`` and then raises it in every waiter.

``bucket`` mode (:class:`~.strategies.BucketBudget`) shares a token bucket instead (GCRA: a burst of ``N``,
then ``N`` per ``period``, counted at send time) with the same pause and failure behaviour; nothing is held,
so there is no lease and no release.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import defaults
from ..errors import RateLimitBackendError
from ..ratelimit import Ratelimit
from ..redaction import redact
from . import scripts
from .address import redis_address
from .strategies import US, Budget, new_strategy

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLimiter"]

logger = logging.getLogger("airflow_provider_bulk_uploader")


class RedisLimiter:
    """A :class:`~..ratelimit.Limiter` whose budget lives in Redis under ``key``, shared by every process
    (task, worker, backfill run) that uses the same key and Redis database.

    :param rate: the quota: ``rate.mode`` ``"strict"`` (slots, at most N arrivals in any window) or
        ``"bucket"`` (a shared token bucket).
    :param redis: a ``redis.asyncio.Redis``, a ``redis://`` URL, or a zero-argument callable returning a
        client (called in the running event loop on first use: clients are bound to their loop; give it an
        ``address`` attribute to name the server in messages before it is called).
    :param key: the budget's name; every limiter with the same key and database shares one quota. Keys
        written: ``bulkfetch:ratelimit:{key}:*`` (expire when unused).
    :param attempt_timeout: seconds one attempt may take (the run's ``timeout``, default 30); a slot's
        lease is this plus :data:`~..defaults.SHARED_LEASE_MARGIN_SECONDS`.
    :param lease_margin: seconds added to ``attempt_timeout`` for the lease (default 10).
    :param retry_seconds: how long Redis may be unreachable mid-run before every waiting request fails
        with :class:`~..errors.RateLimitBackendError` (default 15).
    :param name: how error messages name this limiter (e.g. the Airflow connection); default the key.
    """

    def __init__(
        self,
        rate: Ratelimit,
        redis: Redis | str | Callable[[], Redis],
        key: str,
        *,
        attempt_timeout: float = defaults.TIMEOUT_SECONDS,
        retry_seconds: float = defaults.SHARED_REDIS_RETRY_SECONDS,
        lease_margin: float = defaults.SHARED_LEASE_MARGIN_SECONDS,
        name: str | None = None,
    ) -> None:
        if not isinstance(rate, Ratelimit):
            raise TypeError(f"rate must be a Ratelimit, got {rate!r}")
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        if not attempt_timeout > 0 or not retry_seconds >= 0 or not lease_margin >= 0:
            raise ValueError(
                "attempt_timeout must be > 0, retry_seconds and lease_margin >= 0; got "
                f"{attempt_timeout!r}, {retry_seconds!r}, {lease_margin!r}"
            )
        self.rate = rate
        self.key = key
        self.name = name or f"shared rate limit {key!r}"
        self.attempt_timeout = float(attempt_timeout)
        self.lease_seconds = self.attempt_timeout + float(lease_margin)
        self.retry_seconds = float(retry_seconds)
        self._redis_arg = redis
        self._client: Redis | None = None
        self._owns_client = False
        self._scripts: dict[str, Any] = {}
        self._budget = Budget.of(rate, key, self.lease_seconds)
        self._strategy = new_strategy(self._budget)
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._leader: asyncio.Task[None] | None = None
        self._to_release: list[str] = []
        self._releaser: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._broken: RateLimitBackendError | None = None
        #: round trips to Redis made by acquire scripts, and slots they granted (for benchmarks)
        self.acquire_calls = 0
        self.granted = 0

    def __repr__(self) -> str:
        return f"RedisLimiter({self.rate!r}, key={self.key!r}, redis={self.address!r})"

    @property
    def address(self) -> str:
        """Where the budget lives (``host:port/db``; never a password)."""
        if self._client is not None:
            return redis_address(self._client)
        if callable(self._redis_arg) and not hasattr(self._redis_arg, "connection_pool"):
            return getattr(self._redis_arg, "address", "?")
        return redis_address(self._redis_arg)

    # -- the Limiter interface ---------------------------------------------------------------------------

    async def acquire(self) -> Any:
        """Wait for a slot (or a token) and take it; returns the ticket to hand to :meth:`release`."""
        if self._broken is not None:
            raise self._broken
        if self._client is None:
            await self._open()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        self._waiters.append(waiter)
        if self._leader is None:
            self._leader = loop.create_task(self._lead())
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # granted just as we were cancelled: give it back
            raise

    def release(self, ticket: Any = None) -> None:
        """Give a slot back (sent to Redis in the background, coalesced); reusable ``period`` later."""
        if ticket is None:
            return
        self._to_release.extend(ticket)
        if self._releaser is None:
            self._releaser = asyncio.get_running_loop().create_task(self._send_releases())

    def pause(self, seconds: float) -> None:
        """Hold every request on the key back for ``seconds`` (sent to Redis in the background)."""
        if self._client is None or seconds <= 0:
            return
        task = asyncio.get_running_loop().create_task(self._send_pause(seconds))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def free_again_at(self) -> float:
        """``-inf``: the budget's state lives in Redis beyond the run, so ``settle`` need not wait."""
        return float("-inf")

    async def aclose(self) -> None:
        """Send the releases still pending, stop the leader, close a client this limiter opened."""
        leader, self._leader = self._leader, None
        if leader is not None:
            leader.cancel()
            await asyncio.gather(leader, return_exceptions=True)
        pending = [t for t in (self._releaser, *self._background) if t is not None]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            with contextlib.suppress(Exception):
                await client.aclose()

    # -- Redis --------------------------------------------------------------------------------------------

    async def _open(self) -> None:
        from redis.asyncio import Redis

        arg = self._redis_arg
        if isinstance(arg, Redis):
            client, owns = arg, False
        elif isinstance(arg, str):
            client, owns = Redis.from_url(arg), True
        else:
            client, owns = arg(), True
        try:
            await client.ping()
        except Exception as exc:
            if owns:
                with contextlib.suppress(Exception):
                    await client.aclose()
            raise RateLimitBackendError(
                f"{self.name}: cannot reach Redis at {redis_address(client)}: {_describe(exc)}. "
                "The shared rate limit needs it (no fallback that could exceed the quota)."
            ) from None
        if self._client is not None:  # another waiter opened it meanwhile
            if owns:
                await client.aclose()
            return
        self._client, self._owns_client = client, owns
        needed = (*self._strategy.scripts, "pause")
        self._scripts = {name: client.register_script(scripts.source(name)) for name in needed}

    async def _lead(self) -> None:
        """Ask Redis for slots for this process's waiters, first come first served, until none is left."""
        waiters = self._waiters
        failed_since: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while True:
                while waiters and waiters[0].done():  # cancelled while queued
                    waiters.popleft()
                if not waiters:
                    return
                want = sum(1 for w in waiters if not w.done())
                try:
                    tickets, wait = await self._ask(want)
                    failed_since = None
                except Exception as exc:
                    if not _is_connection_error(exc):
                        raise
                    now = loop.time()
                    failed_since = now if failed_since is None else failed_since
                    if now - failed_since >= self.retry_seconds:
                        raise RateLimitBackendError(
                            f"{self.name}: lost Redis at {self.address} for {now - failed_since:.0f} s "
                            f"(retried; limit {self.retry_seconds:g} s): {_describe(exc)}"
                        ) from None
                    logger.warning(
                        "%s: Redis at %s unreachable, retrying: %s", self.name, self.address, _describe(exc)
                    )
                    await asyncio.sleep(min(1.0, 0.1 * 2 ** min(5, int(now - failed_since))))
                    continue
                for ticket in tickets:
                    while waiters and waiters[0].done():
                        waiters.popleft()
                    if waiters:
                        waiters.popleft().set_result(ticket)
                    else:
                        self.release(ticket)
                if not waiters:
                    return
                if tickets and len(tickets) >= want:
                    continue
                low, high = defaults.SHARED_POLL_MIN_SECONDS, defaults.SHARED_POLL_MAX_SECONDS
                # a little additive jitter, so that K processes woken by the same hint do not call in lockstep
                await asyncio.sleep(min(high, max(low, wait)) + random.uniform(0.0, low / 2))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            error = (
                exc
                if isinstance(exc, RateLimitBackendError)
                else RateLimitBackendError(f"{self.name}: Redis at {self.address} failed: {_describe(exc)}")
            )
            self._broken = error
            while waiters:
                waiter = waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(error)
        finally:
            if self._leader is asyncio.current_task():
                self._leader = None

    async def _ask(self, want: int) -> tuple[list[Any], float]:
        """One round trip: up to ``want`` tickets, and seconds until trying again makes sense."""
        self.acquire_calls += 1
        answer = await self._strategy.ask(self._call, want)
        self.granted += len(answer.tickets)
        if answer.repair:
            self._log_repair(answer.repair, answer.repaired)
        return answer.tickets, answer.wait_seconds

    def _log_repair(self, repair: str, repaired: int) -> None:
        period = self.rate.period_seconds
        what = f"{repaired} of {self.rate.num_requests} slots" if repaired else "the bucket"
        if repair == "lost":
            logger.warning(
                "%s: the budget's state in Redis at %s was missing or incomplete (keys evicted or deleted, "
                "Redis flushed, restarted or failed over): %s counted as used, free again in %g s",
                self.name,
                self.address,
                what,
                period,
            )
        else:
            logger.info(
                "%s: no trace of this budget in Redis at %s, and the server cannot prove it unused in the "
                "last %g s (up for less, flushed since it started, or evicting keys without a TTL): it "
                "starts as used, free in %g s",
                self.name,
                self.address,
                period + self.lease_seconds,
                period,
            )

    async def _call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run script ``name`` (registered by :meth:`_open`) on this limiter's client."""
        return await self._scripts[name](keys=keys, args=args)

    async def _send_releases(self) -> None:
        try:
            while self._to_release and self._client is not None:
                batch, self._to_release = self._to_release, []
                try:
                    await self._strategy.give_back(self._call, batch)
                except Exception as exc:  # the slots come back when their lease ends
                    logger.warning(
                        "%s: could not release %d slot(s) in Redis at %s (they come back after their "
                        "lease of %g s): %s",
                        self.name,
                        len(batch) // 2,
                        self.address,
                        self.lease_seconds,
                        _describe(exc),
                    )
        finally:
            self._releaser = None

    async def _send_pause(self, seconds: float) -> None:
        try:
            budget = self._budget
            await self._call("pause", budget.keys.of("pause"), [round(seconds * US), budget.ttl_ms])
        except Exception as exc:
            logger.warning(
                "%s: could not share a %.1f s pause through Redis: %s", self.name, seconds, _describe(exc)
            )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _is_connection_error(exc: BaseException) -> bool:
    from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

    return isinstance(exc, (ConnectionError, TimeoutError, BusyLoadingError, OSError))
