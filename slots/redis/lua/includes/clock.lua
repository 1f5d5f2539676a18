-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).

-- The store's clock in milliseconds: every deadline is judged by Redis, never by a client.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function is_null(v)
  return v == nil or v == cjson.null
end

-- 'max_runtime' wins over 'timeout' when both have passed, as in the memory store.
local function expiry_reason(occ, now)
  if not is_null(occ.maxDeadline) and occ.maxDeadline <= now then return 'max_runtime' end
  if occ.deadline <= now then return 'timeout' end
  return nil
end

-- When an occupancy ends by itself unless renewed: the earlier of its deadline and max deadline.
local function lapses_at(occ)
  if not is_null(occ.maxDeadline) and occ.maxDeadline < occ.deadline then return occ.maxDeadline end
  return occ.deadline
end
