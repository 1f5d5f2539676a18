--[[
Removes delivered records from the delivery log of one scheduler name: their callbacks ran, so no
pass may hand them out again. Fields the log does not hold are ignored.

KEYS[1] deliveries     hash  "<token>:<taskId>" -> {"owner":..., "record": ended-occupancy}
KEYS[2] delivery-due   zset  the same fields, scored by when their lease lapses

ARGV    the fields to remove, each "<token>:<taskId>"

Returns the number of records removed.
]]

local removed = 0
for _, field in ipairs(ARGV) do
  removed = removed + redis.call('HDEL', KEYS[1], field)
  redis.call('ZREM', KEYS[2], field)
end
return removed
