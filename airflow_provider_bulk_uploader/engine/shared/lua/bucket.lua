-- bucket mode: take up to `want` tokens of a shared token bucket (GCRA: one timestamp per key).
-- KEYS: tat (string: theoretical arrival time µs), pause, meta (hash, no TTL: run, last), clients
-- ARGV: n, period µs, want, client id, ttl ms — the bucket holds n, one token every period / n µs.
-- Returns {tokens granted, wait µs (0 when something was granted), why ('' | 'lost' | 'unproven')}
--
-- A missing `tat` (evicted, flushed, lost in a restart) restarts the bucket *empty* (refilling from now),
-- never full, unless meta's `last` call is more than a period ago (the bucket had refilled anyway) or this
-- server proves the key new; a bucket written by another server process (snapshot, failover) is
-- emptied too.
local now = clock()
local n, period, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local client, ttl = ARGV[4], tonumber(ARGV[5])
local interval = period / n
local run = server_run()
local meta = redis.call('HMGET', KEYS[3], 'run', 'last')
local last = tonumber(meta[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '')
local why = ''
if meta[1] and meta[1] ~= run then
  tat, why = math.max(tat or 0, now + period), 'lost'
elseif not tat then
  if last then
    if now - last <= period then tat, why = now + period, 'lost' end
  elseif redis.call('EXISTS', KEYS[4]) == 1 then
    tat, why = now + period, 'lost'
  elseif not proven_unused(period) then
    tat, why = now + period, 'unproven'
  end
end
redis.call('HSET', KEYS[3], 'run', run, 'last', string.format('%.0f', now))
redis.call('PERSIST', KEYS[3])
if why ~= '' then redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', ttl) end
redis.call('ZADD', KEYS[4], now, client)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 2 * period)
redis.call('PEXPIRE', KEYS[4], ttl)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return {0, pause - now, why} end
tat = tat or 0
if tat < now then tat = now end
local share = math.ceil(n / math.max(1, redis.call('ZCARD', KEYS[4])))
if want > share then want = share end
local k = math.floor((now + period - tat) / interval)
if k > want then k = want end
if k <= 0 then return {0, math.ceil(tat + interval - period - now), why} end
redis.call('SET', KEYS[1], string.format('%.0f', tat + k * interval), 'PX', ttl)
return {k, 0, why}
