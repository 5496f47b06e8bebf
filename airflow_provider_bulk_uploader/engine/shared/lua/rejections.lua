-- Shared by pause.lua and adapt.lua (prepended to them): count rejections (429/503 answers) for the budget
-- page ("rejections in the last hour", engine/shared/snapshot.py) in a hash minute since the epoch -> count.
-- Bounded: at most 61 minutes are kept (older ones deleted when a new minute starts), and the hash expires
-- an hour after the last rejection.

local function count_rejections(key, seconds, count)
  local minute = math.floor(seconds / 60)
  if redis.call('HINCRBY', key, minute, count) == count then  -- a new minute: drop those older than an hour
    for _, field in ipairs(redis.call('HKEYS', key)) do
      if tonumber(field) <= minute - 60 then redis.call('HDEL', key, field) end
    end
  end
  redis.call('EXPIRE', key, 3660)
end
