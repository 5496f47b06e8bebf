-- bucket mode: take up to `want` tokens of a shared token bucket (GCRA: one timestamp per key).
-- KEYS: tat (string: theoretical arrival time µs), pause, meta (hash, no TTL: run, last), clients, pace (hash:
--       pace.lua)
-- ARGV: n, period µs, want, client id, ttl ms, then the 9 pace constants (pace.lua) — the bucket holds
--       `burst` tokens and gains one every emission interval (period / n µs as declared; longer while the
--       adapted rate is lower, fewer tokens while the adapted burst is)
-- Returns {tokens granted, wait µs (until asking again makes sense), why ('' | 'lost' | 'unproven'), the pace
--          (9 fields, pace.lua pace_reply)}
--
-- A missing `tat` (evicted, flushed, lost in a restart) restarts the bucket *empty* (refilling from now),
-- never full, unless meta's `last` call is more than a period ago (the bucket had refilled anyway) or this
-- server proves the key new; a bucket written by another server process (snapshot, failover) is
-- emptied too. After a pause the bucket resumes empty (one token per interval, no burst).
local now = clock()
local n, period, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local client, ttl = ARGV[4], tonumber(ARGV[5])
local c = pace_config(6)
local s = pace_read(KEYS[5])
local interval, burst = pace_now(s, c, now)
local tol = (burst - 1) * interval
local empty = now + c.burst * c.interval  -- a bucket of the declared capacity, empty at `now`
local run = server_run()
local meta = redis.call('HMGET', KEYS[3], 'run', 'last')
local last = tonumber(meta[2])
local stored = tonumber(redis.call('GET', KEYS[1]) or '')
local tat = stored
local why = ''
if meta[1] and meta[1] ~= run then
  tat, why = math.max(tat or 0, empty), 'lost'
elseif not tat then
  if last then
    if now - last <= period then tat, why = empty, 'lost' end
  elseif redis.call('EXISTS', KEYS[4]) == 1 then
    tat, why = empty, 'lost'
  elseif not proven_unused(period) then
    tat, why = empty, 'unproven'
  end
end
redis.call('HSET', KEYS[3], 'run', run, 'last', string.format('%.0f', now))
redis.call('PERSIST', KEYS[3])
redis.call('ZADD', KEYS[4], now, client)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 2 * period)
redis.call('PEXPIRE', KEYS[4], ttl)
tat = pace_shift(s, tat or 0, tol)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < pause + tol then tat = pause + tol end  -- after a pause: resume paced (no burst credit)
local k, wait = 0, 0
if pause > now then
  wait = pause - now
else
  local share = math.ceil(n / math.max(1, redis.call('ZCARD', KEYS[4])))
  if want > share then want = share end
  k = math.min(want, pace_available(tat, tol, interval, now))
  if k > 0 then tat = math.max(tat, now) + k * interval end
  wait = math.max(0, tat - tol - now)
  if k == 0 and wait == 0 then wait = interval end
end
if tat ~= stored then redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', ttl) end
if s.tol ~= tol then redis.call('HSET', KEYS[5], 'tol', pace_fmt(tol)) end
redis.call('PEXPIRE', KEYS[5], ttl)
return pace_reply({k, wait, why}, s, now, interval, burst)
