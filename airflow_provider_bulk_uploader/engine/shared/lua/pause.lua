-- both modes: hold every request on the key back (a 429, a Retry-After) — extends, never shortens — and
-- count the rejection for the budget page ("rejections in the last hour", engine/shared/snapshot.py).
-- KEYS: pause, rejections (hash: minute since the epoch -> count; optional); ARGV: seconds µs, ttl ms
-- The count is bounded: at most 61 minutes are kept (older ones deleted when a new minute starts), and the
-- hash expires an hour after the last rejection.
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', ARGV[2])
end
if KEYS[2] then
  local minute = math.floor(tonumber(t[1]) / 60)
  if redis.call('HINCRBY', KEYS[2], minute, 1) == 1 then  -- a new minute: drop those older than an hour
    for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
      if tonumber(field) <= minute - 60 then redis.call('HDEL', KEYS[2], field) end
    end
  end
  redis.call('EXPIRE', KEYS[2], 3660)
end
return 0
