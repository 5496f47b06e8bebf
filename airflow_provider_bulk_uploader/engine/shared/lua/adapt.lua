-- both modes: what a rejection, or a rate set by the engine, does to the pace every process on the key
-- shares (RedisLimiter.on_rejection / set_rate; the arithmetic is pace.lua's, engine/adaptive.py's).
-- KEYS: pace (hash), rejections (hash minute -> count: rejections.lua), tat (bucket mode: the bucket's
--       timestamp; strict mode keeps it in pace)
-- ARGV: op, ttl ms, a, b, then the 9 pace constants (pace.lua)
--   op 'reject': `a` rejections (429/503 without a when-to-come-back) answered since this process's last
--     call, `b` the latest time one of them was sent (µs, Redis clock: the process converts its loop time).
--     All are counted; the pace is lowered once (AdaptiveRate.on_rejection) unless every one was sent
--     before (or at) the last decrease — a request already on its way when the pace was lowered is the same
--     signal, not a new one, whichever process sent it. When lowered, the burst credit is taken back: the
--     next request on the key leaves one (new) interval from now.
--   op 'set': pace at most `a` requests/s with burst `b` from now on (never above the declared ones; at or
--     above both: back to the declared pace).
-- Returns {lowered (0/1), the pace (9 fields, pace.lua pace_reply)}
local now = clock()
local op, ttl, a, b = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local c = pace_config(5)
local s = pace_read(KEYS[1])
local lowered = 0
if op == 'reject' then
  count_rejections(KEYS[2], math.floor(now / 1000000), a)
  if pace_reject(s, c, now, b) then
    lowered = 1
    redis.call('HSET', KEYS[1], 'low', pace_fmt(s.low), 'ceiling', pace_fmt(s.ceiling), 'below', s.below,
               'since', pace_fmt(s.since), 'burst', s.burst, 'decreases', s.decreases)
    local interval, burst = pace_now(s, c, now)
    local tol = (burst - 1) * interval
    local next_at = now + interval + tol  -- tat: the next request leaves one interval from now
    if KEYS[3] then
      -- a bucket's timestamp only where it exists: a missing one is the bucket script's to repair (as used)
      local tat = tonumber(redis.call('GET', KEYS[3]) or '')
      if tat then
        tat = pace_shift(s, tat, tol)
        if tat < next_at then tat = next_at end
        redis.call('SET', KEYS[3], string.format('%.0f', tat), 'PX', ttl)
      end
    else
      local tat = pace_shift(s, s.tat or 0, tol)
      if tat < next_at then tat = next_at end
      redis.call('HSET', KEYS[1], 'tat', pace_fmt(tat))
    end
    redis.call('HSET', KEYS[1], 'tol', pace_fmt(tol))
    s.tol = tol
  end
elseif op == 'set' then
  if a >= c.rate and b >= c.burst then
    redis.call('HDEL', KEYS[1], 'set_rate', 'set_burst')
    s.set_rate, s.set_burst = nil, nil
  else
    s.set_rate, s.set_burst = math.min(a, c.rate), math.max(1, math.min(b, c.burst))
    redis.call('HSET', KEYS[1], 'set_rate', pace_fmt(s.set_rate), 'set_burst', s.set_burst)
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
local interval, burst = pace_now(s, c, now)
return pace_reply({lowered}, s, now, interval, burst)
