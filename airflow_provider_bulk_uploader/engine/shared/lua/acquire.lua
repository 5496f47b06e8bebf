-- strict mode: take up to `want` of the N slots (RedisLimiter, engine/shared/strategies.py SlotBudget).
-- KEYS: ready (zset slot -> free-at µs), held (zset slot -> lease end µs), owner (hash slot -> grant id),
--       pause (string: pause-until µs), meta (hash: n, gen), clients (zset client -> last seen µs),
--       waiting (zset client -> waiting since µs), wants (hash client -> "slots still wanted:back by µs")
-- ARGV: n, period µs, lease µs, want, client id, known gen ("" = none), new gen, ttl ms,
--       poll min µs, poll max µs, reservation grace µs
-- Returns {gen, wait µs (0 when something was granted), slot1, grant1, slot2, grant2, ...}
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
