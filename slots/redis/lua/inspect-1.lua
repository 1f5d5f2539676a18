--[[
Reads every slot record together with the store's clock (read-only).

KEYS[1] slots  hash  slotId -> slot record JSON

Returns {now, {slotId1, record1 JSON, slotId2, record2 JSON, ...}} (unsorted).
]]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return { now, redis.call('HGETALL', KEYS[1]) }
