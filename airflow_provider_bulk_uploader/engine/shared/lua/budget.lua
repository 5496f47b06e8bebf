-- Shared by acquire.lua and bucket.lua (prepended to them): the clock, and what a budget with missing
-- state may have been. A budget found missing or partial counts as *used* (free one period after it was
-- found so) unless this server proves it was not used recently. Nothing here writes.

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- INFO <section> as text, or nil where INFO is not allowed (an ACL, a renamed command, a proxy)
local function info(section)
  local reply = redis.pcall('INFO', section)
  if type(reply) == 'string' then return reply end
  return nil
end

-- This server process ('' when INFO is not allowed). A budget last written by another one was restored
-- from a snapshot or replicated before a failover: it may miss the last grants, so it is not trusted.
local function server_run()
  local text = info('server')
  return text and string.match(text, 'run_id:(%x+)') or ''
end

-- True when a budget of which no key is left cannot have been used in the last `span` µs on this server:
-- it has been up longer than that (a restart loses every key), no FLUSHALL or FLUSHDB ran since it started
-- (a flush does too) and it does not evict keys without a TTL (allkeys-* policies with a maxmemory can
-- evict the durable meta key). Anything it cannot read counts as "not proven".
local function proven_unused(span)
  local server = info('server')
  local uptime = server and tonumber(string.match(server, 'uptime_in_seconds:(%d+)'))
  if not uptime or (uptime - 1) * 1000000 < span then return false end -- whole seconds: one less
  local stats = info('commandstats')
  if not stats then return false end
  for _, command in ipairs({'flushall', 'flushdb'}) do
    local calls = tonumber(string.match(stats, 'cmdstat_' .. command .. ':calls=(%d+)') or '0')
    if calls > 0 then return false end
  end
  local memory = info('memory')
  if not memory then return false end
  local maxmemory = tonumber(string.match(memory, '\nmaxmemory:(%d+)') or '')
  local policy = string.match(memory, 'maxmemory_policy:([%w-]+)')
  if not maxmemory or not policy then return false end
  return maxmemory == 0 or string.sub(policy, 1, 7) ~= 'allkeys'
end
