-- both modes: hold every request on the key back (a 429, a Retry-After) — extends, never shortens — and
-- count the rejection for the budget page (rejections.lua). When the pause ends the acquire and bucket
-- scripts resume one interval apart (no burst credit).
-- KEYS: pause, rejections (optional); ARGV: seconds µs, ttl ms
local t = redis.call('TIME')
local until_ = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
if until_ > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', ARGV[2])
end
if KEYS[2] then count_rejections(KEYS[2], tonumber(t[1]), 1) end
return 0
