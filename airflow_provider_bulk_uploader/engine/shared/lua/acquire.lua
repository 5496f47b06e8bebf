-- strict mode: take up to `want` of the N slots, paced (RedisLimiter, engine/shared/strategies.py SlotBudget).
-- KEYS: ready (zset slot -> free-at µs), held (zset slot -> lease end µs), owner (hash slot -> grant id
--       "client:granted-at µs"), pause (string: pause-until µs), meta (hash, no TTL: n, gen, run, last,
--       lease), clients (zset client -> last seen µs), waiting (zset client -> waiting since µs),
--       wants (hash client -> "slots still wanted:back by µs"), pace (hash: pace.lua)
-- ARGV: n, period µs, lease µs, want, client id, ttl ms, poll min µs, poll max µs, reservation grace µs,
--       then the 9 pace constants (pace.lua)
-- Returns {wait µs (until asking again makes sense), slots re-added as used, why ('' | 'lost' | 'unproven'),
--          the pace (9 fields, pace.lua pace_reply), slot1, grant1, slot2, grant2, ...}
--
-- A slot is granted when it is free AND the shared pace lets a request leave (GCRA: at most `burst` back to
-- back, then one per interval, over every process on the key); after a pause requests resume one interval
-- apart (no burst credit).
--
-- The budget is repaired, not trusted: every call checks that all N slots are accounted for (ready +
-- held); a slot missing (evicted, deleted, flushed, lost in a restart) is taken back as held when its
-- grant is still known (owner), else re-added as used, free one period from now. meta has no TTL: its
-- `last` call time tells a budget unused for longer than a period + a lease (every slot free, whatever
-- expired) from one lost while in use, and `run` a budget written by another server process (restored
-- from a snapshot, failed over) from one this server kept.
local now = clock()
local n, period, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local want, client, ttl = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local poll_min, poll_max, grace = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local run = server_run()
local meta = redis.call('HMGET', KEYS[5], 'n', 'run', 'last', 'lease')
local have, last = tonumber(meta[1]), tonumber(meta[3])
local longest = math.max(lease, tonumber(meta[4]) or 0)  -- the longest lease any process here uses
local span = period + longest  -- a slot granted at t is free again by t + lease + period
local start = now + period  -- when a slot found missing is free again
local why = 'lost'
if not have then
  -- no meta: a new key, or everything lost; a key left of the family says which
  if redis.call('EXISTS', KEYS[1], KEYS[2], KEYS[3]) == 0 then
    if proven_unused(span) then start, why = 0, '' else why = 'unproven' end
  end
elseif meta[2] and meta[2] ~= run then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])  -- another server process's state: may miss grants
elseif last and now - last > span then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])  -- unused long enough: every slot is free
  start, why = 0, ''
end
redis.call('HSET', KEYS[5], 'last', string.format('%.0f', now))
redis.call('PERSIST', KEYS[5])  -- no TTL (earlier versions gave it one)
if have ~= n or meta[2] ~= run or tonumber(meta[4]) ~= longest then
  redis.call('HSET', KEYS[5], 'n', n, 'run', run, 'lease', longest)
  redis.call('HSETNX', KEYS[5], 'gen', run)  -- read by earlier versions of this script
end
-- account for every slot: ready + held must be the N slots
local repaired = 0
if have ~= n or redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2]) ~= n then
  for _, slot in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if tonumber(slot) >= n then redis.call('ZREM', KEYS[1], slot) end  -- N lowered
  end
  for i = 0, n - 1 do
    if not redis.call('ZSCORE', KEYS[1], i) and not redis.call('ZSCORE', KEYS[2], i) then
      local granted = tonumber(string.match(redis.call('HGET', KEYS[3], i) or '', ':(%d+)$'))
      if granted then
        redis.call('ZADD', KEYS[2], granted + lease, i)  -- still held: back on release or lease end
      elseif have and i >= have then
        redis.call('ZADD', KEYS[1], 0, i)  -- N raised: a new slot, free
      else
        redis.call('ZADD', KEYS[1], start, i)
        if start > 0 then repaired = repaired + 1 end
      end
    end
  end
end
if repaired == 0 then why = '' end
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
local c = pace_config(10)
local s = pace_read(KEYS[9])
local interval, burst = pace_now(s, c, now)
local tol = (burst - 1) * interval
local tat = pace_shift(s, s.tat or 0, tol)
local pace_was = tat
local wait = 0
local granted = {}
local pause = tonumber(redis.call('GET', KEYS[4]) or '0')
if tat < pause + tol then tat = pause + tol end  -- after a pause: resume paced (no burst credit)
if pause > now then
  wait = pause - now
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
  local paced = pace_available(tat, tol, interval, now)
  local take = math.min(#free, paced) - reserved
  if take < 0 then take = 0 end
  if take > 0 then tat = math.max(tat, now) + take * interval end
  for j = 1, take do
    local slot = free[j]
    local grant = client .. ':' .. string.format('%.0f', now)
    redis.call('ZREM', KEYS[1], slot)
    redis.call('ZADD', KEYS[2], now + lease, slot)
    redis.call('HSET', KEYS[3], slot, grant)
    granted[#granted + 1] = slot
    granted[#granted + 1] = grant
  end
  -- when asking again makes sense: the next free slot (exact for a released one, a period when all are held)
  -- and the pace's next departure, whichever is later; one interval when both allow but others have
  -- first call
  local slot_wait = 0
  if take >= #free then  -- every slot free now is granted: the next one to free
    local first = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if first[1] then slot_wait = tonumber(first[2]) - now else slot_wait = period end
  end
  wait = math.max(0, slot_wait, tat - tol - now)
  if take == 0 and wait == 0 then wait = interval end
  -- when this process will ask again: the hint, bounded like the client's sleep, plus a grace
  local back = now + math.min(poll_max, math.max(poll_min, wait)) + grace
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
if tat ~= pace_was or s.tol ~= tol then
  redis.call('HSET', KEYS[9], 'tat', pace_fmt(tat), 'tol', pace_fmt(tol))
end
for i = 1, 9 do
  if i ~= 5 then redis.call('PEXPIRE', KEYS[i], ttl) end  -- meta stays: the budget's memory
end
local result = pace_reply({wait, repaired, why}, s, now, interval, burst)
for _, x in ipairs(granted) do result[#result + 1] = x end
return result
