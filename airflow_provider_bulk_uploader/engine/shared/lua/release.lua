-- strict mode: give slots back (coalesced: every release pending in one call).
-- KEYS: ready, held, owner; ARGV: n, period µs, slot1, grant1, ... — a grant that is no longer the slot's
-- owner (its lease ran out and the slot was taken back) is ignored.
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
