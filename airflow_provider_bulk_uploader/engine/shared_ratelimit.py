"""One rate budget shared by every process that uses the same key: :class:`RedisLimiter`.

``strict`` mode keeps the :class:`~.ratelimit.SlotLimiter` guarantee across processes: ``N`` slots live in
Redis; a request holds one from before it is sent until its response (or error) arrives, and the slot can be
taken again ``period`` after that, so at most ``N`` requests arrive at the server in any window of
``period`` — counted over every process on the key, retries included.

* Each step is one Lua script (atomic), timed by Redis ``TIME`` (worker clocks may differ).
* **Leases**: a granted slot carries a lease of ``attempt_timeout`` + ``lease_margin`` (default
  :data:`~.defaults.SHARED_LEASE_MARGIN_SECONDS`).
  A holder that dies (kill -9, OOM) never releases it; the next acquire takes it back and counts it used
  until ``period`` after the lease ended — the request, if it was sent, was sent before that.
* **Round trips**: a process has at most one acquire script in flight (its *leader*); it asks for as many
  slots as the process has waiters, so one round trip grants several slots under load. Releases are sent in
  the background and coalesced (one script for all releases pending). When no slot is free the script says
  when the next one will be (exact for a released slot; ``period`` when all are held) and the leader sleeps
  that long, bounded by :data:`~.defaults.SHARED_POLL_MIN_SECONDS` / ``..._MAX_SECONDS`` (polling with a
  precise hint: no pub/sub connection to keep, nothing lost when Redis restarts).
* **Fairness**: a process gets at most ``ceil(N / active processes)`` slots per round trip (processes seen
  in the last two periods), and a process that has waited longer has first call on freed slots (the slots
  it still wants are reserved for it until the moment it said it would ask again, plus
  :data:`~.defaults.SHARED_RESERVATION_GRACE_SECONDS`, so a slow process cannot idle the budget); a process
  served goes to the back of that queue (round robin).
* **Shared cool-down**: :meth:`RedisLimiter.pause` (a 429, a ``Retry-After``) writes a pause-until time;
  no slot is granted to anyone on the key before it.
* **State lost** (Redis restarted without persistence, keys evicted) while a process is running: the
  script notices the missing generation and starts the slots as used, free ``period`` from now — a fresh key
  (no process had seen it) starts with every slot free.
* **Loud failure**: Redis unreachable on the first acquire raises :class:`~.errors.RateLimitBackendError`
  at once, naming the limiter and the Redis address (``host:port``, never a password); lost later, the
  leader retries with backoff for ``retry_seconds`` and then raises it in every waiter.

``bucket`` mode shares a token bucket instead (GCRA: a burst of ``N``, then ``N`` per ``period``, counted at
send time) with the same pause and failure behaviour; nothing is held, so there is no lease and no release.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import defaults
from .errors import RateLimitBackendError
from .ratelimit import Ratelimit
from .redaction import redact

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisLimiter", "redis_address"]

logger = logging.getLogger("airflow_provider_bulk_uploader")

# KEYS: ready (zset slot -> free-at µs), held (zset slot -> lease end µs), owner (hash slot -> grant id),
#       pause (string: pause-until µs), meta (hash: n, gen), clients (zset client -> last seen µs),
#       waiting (zset client -> waiting since µs), wants (hash client -> "slots still wanted:back by µs")
# ARGV: n, period µs, lease µs, want, client id, known gen ("" = none), new gen, ttl ms,
#       poll min µs, poll max µs, reservation grace µs
# Returns {gen, wait µs (0 when something was granted), slot1, grant1, slot2, grant2, ...}
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n, period, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local want, client, ttl = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[8])
local poll_min, poll_max, grace = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local gen = redis.call('HGET', KEYS[5], 'gen')
local have = tonumber(redis.call('HGET', KEYS[5], 'n') or '0')
if not gen then
  gen = ARGV[7]
  have = 0
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[5], 'gen', gen)
end
if have ~= n then
  -- a fresh key starts free; state lost under a running process starts used (free a period from now)
  local start = 0
  if have == 0 and ARGV[6] ~= '' then start = now + period end
  for i = have, n - 1 do redis.call('ZADD', KEYS[1], start, i) end
  for i = n, have - 1 do redis.call('ZREM', KEYS[1], i) end
  redis.call('HSET', KEYS[5], 'n', n)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES')
for i = 1, #expired, 2 do
  redis.call('ZREM', KEYS[2], expired[i])
  redis.call('HDEL', KEYS[3], expired[i])
  if tonumber(expired[i]) < n then
    redis.call('ZADD', KEYS[1], tonumber(expired[i + 1]) + period, expired[i])
  end
end
redis.call('ZADD', KEYS[6], now, client)
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 2 * period)
local result = {gen, 0}
local pause = tonumber(redis.call('GET', KEYS[4]) or '0')
if pause > now then
  result[2] = pause - now
else
  local share = math.ceil(n / math.max(1, redis.call('ZCARD', KEYS[6])))
  if want > share then want = share end
  -- processes that have waited longer than this one get the free slots first (their wants are reserved)
  local since = redis.call('ZSCORE', KEYS[7], client)
  local older
  if since then older = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', '(' .. since)
  else older = redis.call('ZRANGE', KEYS[7], 0, -1) end
  local reserved = 0
  for _, other in ipairs(older) do
    local seen = redis.call('ZSCORE', KEYS[6], other)
    if seen and other ~= client then
      -- a reservation holds only until the time its process said it would be back (plus a grace)
      local w, back = string.match(redis.call('HGET', KEYS[8], other) or '', '^(%d+):(%d+)$')
      if w and tonumber(back) >= now then reserved = reserved + tonumber(w) end
    else
      redis.call('ZREM', KEYS[7], other)
      redis.call('HDEL', KEYS[8], other)
    end
  end
  local free = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, want + reserved)
  local take = #free - reserved
  if take < 0 then take = 0 end
  for j = 1, take do
    local slot = free[j]
    local grant = client .. ':' .. string.format('%.0f', now)
    redis.call('ZREM', KEYS[1], slot)
    redis.call('ZADD', KEYS[2], now + lease, slot)
    redis.call('HSET', KEYS[3], slot, grant)
    result[#result + 1] = slot
    result[#result + 1] = grant
  end
  if take == 0 then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    if first[1] then result[2] = tonumber(first[2]) - now else result[2] = period end
  end
  -- when this process will ask again: the hint, bounded like the client's sleep, plus a grace
  local back = now + math.min(poll_max, math.max(poll_min, result[2])) + grace
  if take == 0 then
    redis.call('ZADD', KEYS[7], 'NX', now, client)  -- keeps its place in the queue
    redis.call('HSET', KEYS[8], client, want .. ':' .. string.format('%.0f', back))
  elseif take < want then
    redis.call('ZADD', KEYS[7], now, client)  -- served: to the back of the queue (round robin)
    redis.call('HSET', KEYS[8], client, (want - take) .. ':' .. string.format('%.0f', back))
  else
    redis.call('ZREM', KEYS[7], client)
    redis.call('HDEL', KEYS[8], client)
  end
end
for i = 1, 8 do redis.call('PEXPIRE', KEYS[i], ttl) end
return result
"""

# KEYS: ready, held, owner; ARGV: n, period µs, slot1, grant1, ... — a grant that is no longer the slot's
# owner (its lease ran out and the slot was taken back) is ignored.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n, period = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    if tonumber(ARGV[i]) < n then redis.call('ZADD', KEYS[1], now + period, ARGV[i]) end
  end
end
return 0
"""

# KEYS: tat (string: theoretical arrival time µs), pause, meta (unused: same key layout), clients
# ARGV: n, period µs, want, client id, ttl ms — GCRA: the bucket holds n, one token every period / n µs.
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n, period, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local client, ttl = ARGV[4], tonumber(ARGV[5])
local interval = period / n
redis.call('ZADD', KEYS[4], now, client)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 2 * period)
redis.call('PEXPIRE', KEYS[4], ttl)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return {0, pause - now} end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local share = math.ceil(n / math.max(1, redis.call('ZCARD', KEYS[4])))
if want > share then want = share end
local k = math.floor((now + period - tat) / interval)
if k > want then k = want end
if k <= 0 then return {0, math.ceil(tat + interval - period - now)} end
redis.call('SET', KEYS[1], string.format('%.0f', tat + k * interval), 'PX', ttl)
return {k, 0}
"""

# KEYS: pause; ARGV: seconds µs, ttl ms — extends, never shortens, the shared pause.
_PAUSE = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', ARGV[2])
end
return 0
"""

_US = 1_000_000


def redis_address(client: Redis) -> str:
    """``host:port/db`` of a ``redis.asyncio.Redis`` client (never its password), or its unix socket."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class RedisLimiter:
    """A :class:`~.ratelimit.Limiter` whose budget lives in Redis under ``key``, shared by every process
    (task, worker, backfill run) that uses the same key and Redis database.

    :param rate: the quota: ``rate.mode`` ``"strict"`` (slots, at most N arrivals in any window) or
        ``"bucket"`` (a shared token bucket).
    :param redis: a ``redis.asyncio.Redis``, a ``redis://`` URL, or a zero-argument callable returning a
        client (called in the running event loop on first use: clients are bound to their loop; give it an
        ``address`` attribute to name the server in messages before it is called).
    :param key: the budget's name; every limiter with the same key and database shares one quota. Keys
        written: ``bulkfetch:ratelimit:{key}:*`` (expire when unused).
    :param attempt_timeout: seconds one attempt may take (the run's ``timeout``, default 30); a slot's
        lease is this plus :data:`~.defaults.SHARED_LEASE_MARGIN_SECONDS`.
    :param lease_margin: seconds added to ``attempt_timeout`` for the lease (default 10).
    :param retry_seconds: how long Redis may be unreachable mid-run before every waiting request fails
        with :class:`~.errors.RateLimitBackendError` (default 15).
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
        base = f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:"
        self._keys = [
            base + part for part in ("ready", "held", "owner", "pause", "meta", "clients", "waiting", "wants")
        ]
        self._bucket_keys = [base + "tat", base + "pause", base + "meta", base + "clients"]
        self._client_id = uuid.uuid4().hex[:16]
        self._gen = ""
        self._period_us = round(rate.period_seconds * _US)
        self._lease_us = round(self.lease_seconds * _US)
        self._ttl_ms = max(60_000, 2 * (self._lease_us + self._period_us) // 1000)
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
        if isinstance(self._redis_arg, str):
            from redis.asyncio.connection import parse_url

            parsed = parse_url(self._redis_arg)
            if parsed.get("path"):
                return f"unix:{parsed['path']}"
            return f"{parsed.get('host', 'localhost')}:{parsed.get('port', 6379)}/{parsed.get('db', 0)}"
        if callable(self._redis_arg) and not hasattr(self._redis_arg, "connection_pool"):
            return getattr(self._redis_arg, "address", "?")
        return redis_address(self._redis_arg)  # type: ignore[arg-type]

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
        self._scripts = {
            "acquire": client.register_script(_ACQUIRE),
            "release": client.register_script(_RELEASE),
            "bucket": client.register_script(_BUCKET),
            "pause": client.register_script(_PAUSE),
        }

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
        rate = self.rate
        self.acquire_calls += 1
        if rate.mode == "bucket":
            granted, wait_us = await self._scripts["bucket"](
                keys=self._bucket_keys,
                args=[rate.num_requests, self._period_us, want, self._client_id, self._ttl_ms],
            )
            self.granted += int(granted)
            return [None] * int(granted), int(wait_us) / _US
        reply = await self._scripts["acquire"](
            keys=self._keys,
            args=[
                rate.num_requests,
                self._period_us,
                self._lease_us,
                want,
                self._client_id,
                self._gen,
                uuid.uuid4().hex,
                self._ttl_ms,
                round(defaults.SHARED_POLL_MIN_SECONDS * _US),
                round(defaults.SHARED_POLL_MAX_SECONDS * _US),
                round(defaults.SHARED_RESERVATION_GRACE_SECONDS * _US),
            ],
        )
        self._gen = _text(reply[0])
        slots = [(_text(reply[i]), _text(reply[i + 1])) for i in range(2, len(reply), 2)]
        self.granted += len(slots)
        return slots, int(reply[1]) / _US

    async def _send_releases(self) -> None:
        try:
            while self._to_release and self._client is not None:
                batch, self._to_release = self._to_release, []
                try:
                    await self._scripts["release"](
                        keys=self._keys[:3], args=[self.rate.num_requests, self._period_us, *batch]
                    )
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
            await self._scripts["pause"](keys=[self._keys[3]], args=[round(seconds * _US), self._ttl_ms])
        except Exception as exc:
            logger.warning(
                "%s: could not share a %.1f s pause through Redis: %s", self.name, seconds, _describe(exc)
            )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _is_connection_error(exc: BaseException) -> bool:
    from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

    return isinstance(exc, (ConnectionError, TimeoutError, BusyLoadingError, OSError))
