-- Shared by acquire.lua, bucket.lua and adapt.lua (prepended to them): the pace every process on a key
-- shares — GCRA pacing (an emission interval, a burst) and its adaptation (AIMD: engine/adaptive.py's
-- AdaptiveRate, the same arithmetic on Redis's clock). Nothing here writes.
--
-- The pace constants come as 9 ARGV from `first` on (engine/shared/strategies.py Budget.pace_args): the
-- declared rate (requests/s), the declared emission interval (µs), the declared burst, then AdaptiveRate's
-- decrease, recovery, margin, probe_after (s), probe and floor (requests/s).
-- The `pace` hash (TTL like the other keys; missing = the declared pace, nothing adapted): low, ceiling,
-- below (0/1), since (µs of the last decrease), burst (the lowered burst), decreases — AdaptiveRate's
-- fields; set_rate/set_burst (RedisLimiter.set_rate, when below the declared ones); tol (the tolerance last
-- used, µs); tat (strict mode: the theoretical arrival time, µs; a bucket keeps its own `tat` key).

local function pace_config(first)
  local v = {}
  for i = 0, 8 do v[i + 1] = tonumber(ARGV[first + i]) end
  return {rate = v[1], interval = v[2], burst = v[3], decrease = v[4], recovery = v[5], margin = v[6],
          probe_after = v[7], probe = v[8], floor = v[9]}
end

local PACE_FIELDS = {'low', 'ceiling', 'below', 'since', 'burst', 'decreases', 'set_rate', 'set_burst', 'tol',
                     'tat'}

local function pace_read(key)
  local values = redis.call('HMGET', key, unpack(PACE_FIELDS))
  local s = {}
  for i, field in ipairs(PACE_FIELDS) do s[field] = tonumber(values[i]) end
  if not (s.decreases and s.low and s.ceiling and s.since and s.burst) then s.decreases = 0 end
  return s
end

-- AdaptiveRate.target: the rate the climb after the last decrease holds at
local function pace_target(s, c)
  if s.below == 1 then return math.max(s.low, s.ceiling * (1 - c.margin)) end
  return math.max(s.low, s.ceiling)
end

-- AdaptiveRate.rate_at (requests/s) at `now` (µs)
local function pace_rate_at(s, c, now)
  if s.decreases == 0 then return c.rate end
  local step = c.recovery * c.rate
  local target = pace_target(s, c)
  local elapsed = (now - s.since) / 1000000
  local rate = s.low + step * elapsed
  if rate >= target then
    local hold = 0
    if s.below == 1 then hold = c.probe_after end
    rate = target + c.probe * c.rate * math.max(0, elapsed - (target - s.low) / step - hold)
  end
  return math.min(c.rate, rate)
end

-- AdaptiveRate.burst_at: the lowered burst until the rate is back at the declared one
local function pace_burst_at(s, c, rate)
  if s.decreases == 0 or rate >= c.rate then return c.burst end
  return math.min(c.burst, s.burst)
end

-- the emission interval (µs) and burst in force at `now`: adapted, bounded by set_rate, never faster than
-- declared
local function pace_now(s, c, now)
  local rate = pace_rate_at(s, c, now)
  local burst = pace_burst_at(s, c, rate)
  if s.set_rate and s.set_rate < rate then rate = s.set_rate end
  if s.set_burst and s.set_burst < burst then burst = s.set_burst end
  return math.max(c.interval, 1000000 / rate), math.max(1, burst)
end

-- the theoretical arrival time `tat` under tolerance `tol`: when the tolerance changed since it was last
-- used, the moment the next request may leave stays where it was (a larger burst refills over time, no
-- sudden burst when it comes back; a smaller one lets nobody leave sooner) — as the in-process limiter
local function pace_shift(s, tat, tol)
  if s.tol and s.tol ~= tol then return tat + tol - s.tol end
  return tat
end

-- how many may leave at `now` (GCRA: one leaves when now >= tat - tol, and moves tat to
-- max(tat, now) + interval); at most `burst` at once
local function pace_available(tat, tol, interval, now)
  if now < tat - tol then return 0 end
  local base = math.max(tat, now)
  return math.floor((now + tol - base) / interval + 1e-9) + 1
end

-- AdaptiveRate.on_rejection at `now` (µs) for a request sent at `sent` (µs, Redis clock): lowers the rate
-- and the burst (changes `s`) unless it was sent before (or at) the last decrease. Returns whether it did.
local function pace_reject(s, c, now, sent)
  if s.decreases > 0 and sent <= s.since then return false end
  local current = pace_rate_at(s, c, now)
  local burst = pace_burst_at(s, c, current)
  -- rejected again once back at the rate of the last rejection: that rate is too high
  s.below = (s.decreases > 0 and current >= pace_target(s, c) * (1 - 1e-9)) and 1 or 0
  s.ceiling = current
  s.low = math.max(c.floor, math.min(current, current * c.decrease))
  s.burst = math.max(1, math.floor(burst * c.decrease))
  s.since = now
  s.decreases = s.decreases + 1
  return true
end

local function pace_fmt(x)
  return string.format('%.17g', x)
end

-- what every reply carries after its own fields: Redis now (µs), the interval (µs) and burst in force, and
-- the adaptation's state (low, ceiling, below, since, burst, decreases) so that each process can follow it
local function pace_reply(result, s, now, interval, burst)
  for _, x in ipairs({now, interval, burst, s.low or 0, s.ceiling or 0, s.below or 0, s.since or 0, s.burst or 0,
                      s.decreases}) do
    result[#result + 1] = pace_fmt(x)
  end
  return result
end
