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
* **Loud failure, bounded**: Redis unreachable when the first acquire opens the client raises
  :class:`~..errors.RateLimitBackendError` at once (a Redis that accepts and never answers: after the
  connect + socket timeouts), naming the limiter and the Redis address (``host:port/db``, never a
  password); lost later, the leader retries with backoff and raises it in every waiter ``retry_seconds``
  after the start of the first call that got no answer. Every call to Redis is bounded by
  ``socket_timeout`` whatever the client (redis-py 5 sets no timeout by default). At start the limiter
  warns when the server may evict keys (``maxmemory-policy`` other than ``noeviction``).

``bucket`` mode (:class:`~.strategies.BucketBudget`) shares a token bucket instead (GCRA: a burst of ``N``,
then ``N`` per ``period``, counted at send time) with the same pause and failure behaviour; nothing is held,
so there is no lease and no release.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from .. import defaults
from ..errors import RateLimitBackendError
from ..ratelimit import Ratelimit
from ..redaction import redact
from . import scripts
from .address import redis_address
from .pace import SharedPace
from .scripts import US, reply_text
from .strategies import Budget, new_strategy

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
        written: ``bulkfetch:ratelimit:{key}:*`` (expire when unused, except ``…:meta``, a small hash that
        stays so that a budget lost while in use is told from one unused for long).
    :param attempt_timeout: seconds one attempt may take (the run's ``timeout``, default 30); a slot's
        lease is this plus :data:`~..defaults.SHARED_LEASE_MARGIN_SECONDS`.
    :param lease_margin: seconds added to ``attempt_timeout`` for the lease (default 10).
    :param retry_seconds: how long Redis may be unreachable mid-run before every waiting request fails
        with :class:`~..errors.RateLimitBackendError` (default 15), counted from the start of the first
        call that got no answer.
    :param socket_timeout: seconds one call to Redis may take (default
        :data:`~..defaults.SHARED_REDIS_SOCKET_TIMEOUT_SECONDS`, 5): every script call is bounded by it
        whatever the client, and a client built from a URL gets it as its ``socket_timeout``.
    :param connect_timeout: seconds to open a connection, for a client built from a URL (default
        :data:`~..defaults.SHARED_REDIS_CONNECT_TIMEOUT_SECONDS`, 5).
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
        socket_timeout: float = defaults.SHARED_REDIS_SOCKET_TIMEOUT_SECONDS,
        connect_timeout: float = defaults.SHARED_REDIS_CONNECT_TIMEOUT_SECONDS,
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
        for label, value in (("socket_timeout", socket_timeout), ("connect_timeout", connect_timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{label} must be a number of seconds > 0, got {value!r}")
        self.rate = rate
        self.key = key
        self.name = name or f"shared rate limit {key!r}"
        self.attempt_timeout = float(attempt_timeout)
        self.lease_seconds = self.attempt_timeout + float(lease_margin)
        self.retry_seconds = float(retry_seconds)
        self.socket_timeout = float(socket_timeout)
        self.connect_timeout = float(connect_timeout)
        self._redis_arg = redis
        self._client: Redis | None = None
        self._owns_client = False
        self._scripts: dict[str, Any] = {}
        self._budget = Budget.of(rate, key, self.lease_seconds)
        self._strategy = new_strategy(self._budget)
        self._pace = SharedPace(rate, self._budget.burst)
        #: rejections to send to Redis (coalesced): how many, the latest loop time one was sent, and how many
        #: of them this process predicted would lower the pace
        self._rejected = 0
        self._rejected_sent = -float("inf")
        self._rejected_predicted = 0
        self._rejecter: asyncio.Task[None] | None = None
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._leader: asyncio.Task[None] | None = None
        self._to_release: list[str] = []
        self._releaser: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._broken: RateLimitBackendError | None = None
        self._open_lock: asyncio.Lock | None = None
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
            await self._open_once()
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
        self._start(functools.partial(self._send_pause, seconds))

    def free_again_at(self) -> float:
        """``-inf``: the budget's state lives in Redis beyond the run, so ``settle`` need not wait."""
        return float("-inf")

    # -- the AdaptiveLimiter interface --------------------------------------------------------------------

    def on_rejection(self, sent_at: float, status: int) -> float | None:
        """A 429/503 without a when-to-come-back answered a request sent at loop time ``sent_at``: lower the
        pace of every process on the key (once per reaction: not for a request sent before the last
        decrease, whichever process lowered it) and take back the burst credit — in Redis, in the background
        (coalesced: one script for every rejection pending); counted for the budget page either way. Returns
        the rate the pace is lowered to, as this process's copy of the shared state predicts it, or
        ``None`` (not lowered, or ``rate.adaptive`` is false)."""
        if not self.rate.adaptive or self._client is None or self._broken is not None:
            return None
        loop = asyncio.get_running_loop()
        lowered = self._pace.predict_rejection(loop.time(), sent_at)
        self._rejected += 1
        self._rejected_sent = max(self._rejected_sent, sent_at)
        if lowered is not None:
            self._rejected_predicted += 1
        if self._rejecter is None:
            self._rejecter = self._start(self._send_rejections)
        return lowered

    def set_rate(self, requests_per_second: float, burst: int) -> None:
        """Pace every process on the key at ``requests_per_second`` (at most the declared rate) with
        ``burst`` (at most the declared burst) from now on — written to Redis in the background; the
        declared ones again with ``set_rate(rate.requests_per_second, ...)``."""
        rps = min(self.rate.requests_per_second, float(requests_per_second))
        if not rps > 0:
            raise ValueError(f"set_rate requests_per_second must be > 0, got {requests_per_second!r}")
        burst = max(1, min(int(burst), self._budget.burst))
        if self._client is None:
            return
        self._start(functools.partial(self._send_rate, rps, burst))

    @property
    def effective_rate(self) -> float:
        """Requests per second the key was paced at when this process last heard from Redis (every
        acquire and rejection; the declared rate before the first)."""
        return self._pace.effective_rate

    @property
    def lowest_rate(self) -> float:
        """The lowest rate this process saw the key paced at (requests per second)."""
        return self._pace.lowest

    async def aclose(self) -> None:
        """Send the releases still pending, stop the leader, close a client this limiter opened."""
        leader, self._leader = self._leader, None
        if leader is not None:
            leader.cancel()
            await asyncio.gather(leader, return_exceptions=True)
        pending = [t for t in (self._releaser, *self._background) if t is not None]
        if pending and self._broken is None:  # Redis answers: let the releases land (each call is bounded)
            await asyncio.wait(pending, timeout=self.socket_timeout)
        for task in pending:  # Redis lost: the slots come back when their leases end
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await _close(client)
        self._broken, self._open_lock = None, None  # a later run starts afresh (and in its own loop)

    # -- Redis --------------------------------------------------------------------------------------------

    async def _open_once(self) -> None:
        """Open the client once however many requests wait for it; a failure fails them all at once
        (instead of one connect timeout after another)."""
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._broken is not None:
                raise self._broken
            if self._client is None:
                try:
                    await self._open()
                except RateLimitBackendError as exc:
                    self._broken = exc
                    raise

    async def _open(self) -> None:
        from redis.asyncio import Redis

        arg = self._redis_arg
        if isinstance(arg, Redis):
            client, owns = arg, False
        elif isinstance(arg, str):
            # the URL's own socket_timeout / socket_connect_timeout parameters win over these
            client = Redis.from_url(
                arg, socket_timeout=self.socket_timeout, socket_connect_timeout=self.connect_timeout
            )
            owns = True
        else:
            client, owns = arg(), True
        try:
            await self._bounded(client.ping(), self.connect_timeout + self.socket_timeout)
        except Exception as exc:
            if owns:
                await _close(client)
            raise RateLimitBackendError(
                f"{self.name}: cannot reach Redis at {redis_address(client)}: {_describe(exc)}. "
                "The shared rate limit needs it (no fallback that could exceed the quota)."
            ) from None
        self._client, self._owns_client = client, owns
        needed = (*self._strategy.scripts, "pause")
        self._scripts = {name: client.register_script(scripts.source(name)) for name in needed}
        await self._check_eviction(client)
        await self._declare(client)

    async def _check_eviction(self, client: Redis) -> None:
        """Warn when the server may evict keys (``maxmemory`` set, a policy other than ``noeviction``): an
        evicted budget key is repaired as used, so the budget is short until then. Read from ``INFO
        memory``, else ``CONFIG GET`` (managed Redis often disables CONFIG); neither → an info line."""
        policy: Any = None
        maxmemory: Any = None
        try:
            memory = await self._bounded(client.info("memory"), self.socket_timeout)
            policy, maxmemory = memory.get("maxmemory_policy"), memory.get("maxmemory")
        except Exception:
            pass
        if policy is None:
            try:
                config = await self._bounded(client.config_get("maxmemory*"), self.socket_timeout)
                policy, maxmemory = config.get("maxmemory-policy"), config.get("maxmemory")
            except Exception as exc:
                logger.info(
                    "%s: could not read maxmemory-policy from Redis at %s (%s); if it evicts keys, a budget "
                    "key evicted mid-run is repaired as used and new keys start used",
                    self.name,
                    self.address,
                    _describe(exc),
                )
                return
        if reply_text(policy) == "noeviction" or str(maxmemory) == "0":
            return
        logger.warning(
            "%s: Redis at %s may evict keys (maxmemory %s bytes, maxmemory-policy %s): a budget key evicted "
            "mid-run is repaired as used, so the budget is short for up to a period + a lease "
            "(%g s). Give rate budgets a Redis with maxmemory-policy noeviction (a Redis of their own: "
            "databases share the memory limit)",
            self.name,
            self.address,
            maxmemory,
            reply_text(policy),
            self.rate.period_seconds + self.lease_seconds,
        )

    async def _declare(self, client: Redis) -> None:
        """Write this limiter's declared quota into the budget's ``meta`` hash (``declared_n``,
        ``declared_period_us``, ``declared_mode``, ``declared_burst``), for the budget page
        (:mod:`.snapshot`); no script reads them (the scripts get the pace as arguments). One bounded call; a
        failure is no reason to stop."""
        rate = self.rate
        fields: dict[Any, Any] = {
            "declared_n": rate.num_requests,
            "declared_period_us": self._budget.period_us,
            "declared_mode": rate.mode,
        }
        fields["declared_burst"] = self._budget.burst
        meta = self._budget.keys.of("meta")[0]
        try:
            await self._bounded(client.hset(meta, mapping=fields), self.socket_timeout)
        except Exception as exc:
            logger.debug("%s: could not write the declared quota to Redis: %s", self.name, _describe(exc))

    async def _lead(self) -> None:
        """Ask Redis for slots for this process's waiters, first come first served, until none is left."""
        waiters = self._waiters
        failed_since: float | None = None  # loop time at which the first unanswered call started
        first_error = ""
        loop = asyncio.get_running_loop()
        try:
            while True:
                while waiters and waiters[0].done():  # cancelled while queued
                    waiters.popleft()
                if not waiters:
                    return
                want = sum(1 for w in waiters if not w.done())
                started = loop.time()
                bound = self.socket_timeout
                if failed_since is not None:  # Redis stopped answering: no retry may outlast the window
                    left = failed_since + self.retry_seconds - started
                    if left <= 0.05:
                        raise self._lost(started - failed_since, first_error)
                    bound = min(bound, left)
                try:
                    tickets, wait = await self._ask(want, bound)
                    round_trip = loop.time() - started
                    failed_since = None
                except Exception as exc:
                    if not _is_transient(exc):
                        raise
                    now = loop.time()
                    first = failed_since is None
                    if failed_since is None:
                        failed_since, first_error = started, _describe(exc)
                    if now - failed_since >= self.retry_seconds:
                        raise self._lost(now - failed_since, first_error) from None
                    logger.log(
                        logging.WARNING if first else logging.DEBUG,
                        "%s: Redis at %s unreachable, retrying for up to %g s: %s",
                        self.name,
                        self.address,
                        self.retry_seconds,
                        _describe(exc),
                    )
                    backoff = min(1.0, 0.1 * 2 ** min(5, int(now - failed_since)))
                    await asyncio.sleep(max(0.0, min(backoff, failed_since + self.retry_seconds - now)))
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
                # the hint counts from when the script ran, about half a round trip ago, and the next call
                # reaches Redis half a round trip after it leaves: ask one round trip before the hint, so
                # that a paced grant is not one round trip late each time; a little additive jitter, so that
                # K processes woken by the same hint do not call in lockstep
                delay = max(0.0, min(high, max(low, wait)) - round_trip)
                await asyncio.sleep(delay + random.uniform(0.0, low / 2))
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

    def _lost(self, seconds: float, error: str) -> RateLimitBackendError:
        return RateLimitBackendError(
            f"{self.name}: lost Redis at {self.address} for {seconds:.1f} s (retried; limit "
            f"{self.retry_seconds:g} s): {error}"
        )

    async def _ask(self, want: int, timeout: float) -> tuple[list[Any], float]:
        """One round trip (at most ``timeout`` seconds): up to ``want`` tickets, and seconds until trying
        again makes sense."""
        self.acquire_calls += 1
        loop = asyncio.get_running_loop()
        sent = loop.time()
        answer = await self._strategy.ask(functools.partial(self._call, timeout=timeout), want)
        if answer.pace is not None:
            self._pace.follow(answer.pace, sent, loop.time())
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

    async def _call(
        self, name: str, keys: Sequence[str], args: Sequence[Any], *, timeout: float | None = None
    ) -> Any:
        """Run script ``name`` (registered by :meth:`_open`) on this limiter's client, for at most
        ``timeout`` seconds (default :attr:`socket_timeout`)."""
        return await self._bounded(self._scripts[name](keys=keys, args=args), timeout or self.socket_timeout)

    @staticmethod
    async def _bounded(call: Awaitable[Any], timeout: float) -> Any:
        """``await call``, or a redis ``TimeoutError`` after ``timeout`` seconds (whatever the client's own
        timeouts: redis-py 5 has none by default)."""
        try:
            return await asyncio.wait_for(call, timeout)
        except asyncio.TimeoutError:
            from redis.exceptions import TimeoutError as RedisTimeoutError

            raise RedisTimeoutError(f"no answer within {timeout:g} s") from None

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

    def _start(self, job: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
        """Run ``job`` in the background (awaited by :meth:`aclose`, bounded like every call)."""
        task = asyncio.get_running_loop().create_task(job())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _send_rejections(self) -> None:
        """Send the rejections pending (one script for all; a later call for those that come meanwhile)."""
        try:
            await self._send_rejections_pending()
        finally:
            self._rejecter = None

    async def _send_rejections_pending(self) -> None:
        while self._rejected and self._client is not None:
            count, sent_at, predicted = self._rejected, self._rejected_sent, self._rejected_predicted
            self._rejected, self._rejected_sent, self._rejected_predicted = 0, -float("inf"), 0
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                sent_us = round(self._pace.redis_time(sent_at) * US)
                _lowered, pace = await self._strategy.reject(self._call, count, sent_us)
            except Exception as exc:
                self._pace.drop_predictions(predicted)
                logger.warning(
                    "%s: could not share %d rejection(s) through Redis at %s (the pace is not lowered for "
                    "the other processes on the key): %s",
                    self.name,
                    count,
                    self.address,
                    _describe(exc),
                )
                return
            self._pace.follow(pace, started, loop.time(), applied=predicted)

    async def _send_rate(self, requests_per_second: float, burst: int) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            pace = await self._strategy.set_rate(self._call, requests_per_second, burst)
        except Exception as exc:
            logger.warning("%s: could not set the shared pace in Redis: %s", self.name, _describe(exc))
            return
        self._pace.follow(pace, started, loop.time())

    async def _send_pause(self, seconds: float) -> None:
        try:
            budget = self._budget
            # the pause, and the rejection counted for the budget page (lua/pause.lua: bounded, TTL'd)
            keys = budget.keys.of("pause", "rejections")
            await self._call("pause", keys, [round(seconds * US), budget.ttl_ms])
        except Exception as exc:
            logger.warning(
                "%s: could not share a %.1f s pause through Redis: %s", self.name, seconds, _describe(exc)
            )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


async def _close(client: Redis) -> None:
    """Close a client this limiter opened (``aclose`` since redis-py 5.0.1, ``close`` before)."""
    close = getattr(client, "aclose", None) or client.close
    with contextlib.suppress(Exception):
        await close()


def _is_transient(exc: BaseException) -> bool:
    """Worth retrying for ``retry_seconds``: Redis unreachable, silent, loading its data after a restart,
    a replica during a failover, or out of memory under ``noeviction``."""
    from redis.exceptions import (
        BusyLoadingError,
        ConnectionError,
        OutOfMemoryError,
        ReadOnlyError,
        TimeoutError,
    )

    transient = (ConnectionError, TimeoutError, BusyLoadingError, ReadOnlyError, OutOfMemoryError)
    return isinstance(exc, (*transient, OSError, asyncio.TimeoutError))
