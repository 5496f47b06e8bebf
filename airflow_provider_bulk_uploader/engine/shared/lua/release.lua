-- strict mode: give slots back (coalesced: every release pending in one call).
-- KEYS: ready, held, owner; ARGV: n, period µs, slot1, grant1, ... — a grant that is no longer the slot's
-- owner (its lease ran out and the slot was taken back) is ignored; a held slot whose owner entry is gone
-- (the owner hash evicted or deleted) is given back by its holder's release.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n, period = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local owner = redis.call('HGET', KEYS[3], ARGV[i])
  if owner == ARGV[i + 1] or (not owner and redis.call('ZSCORE', KEYS[2], ARGV[i])) then
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    if tonumber(ARGV[i]) < n then redis.call('ZADD', KEYS[1], now + period, ARGV[i]) end
  end
end
return 0
