-- bucket mode: take up to `want` tokens of a shared token bucket (GCRA: one timestamp per key).
-- KEYS: tat (string: theoretical arrival time µs), pause, meta (unused: same key layout), clients
-- ARGV: n, period µs, want, client id, ttl ms — the bucket holds n, one token every period / n µs.
-- Returns {tokens granted, wait µs (0 when something was granted)}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n, period, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local client, ttl = ARGV[4], tonumber(ARGV[5])
local interval = period / n
redis.call('ZADD', KEYS[4], now, client)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 2 * period)
redis.call('PEXPIRE', KEYS[4], ttl)
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if pause > now then return {0, pause - now} end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local share = math.ceil(n / math.max(1, redis.call('ZCARD', KEYS[4])))
if want > share then want = share end
local k = math.floor((now + period - tat) / interval)
if k > want then k = want end
if k <= 0 then return {0, math.ceil(tat + interval - period - now)} end
redis.call('SET', KEYS[1], string.format('%.0f', tat + k * interval), 'PX', ttl)
return {k, 0}
