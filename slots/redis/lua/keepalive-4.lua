--[[
Renews a running occupancy: lastKeepaliveAt = now, deadline = now + timeoutMs.

KEYS[1] slots   hash  slotId -> slot record JSON
KEYS[2] tasks   hash  taskId -> slotId of its running occupancy
KEYS[3] ended   hash  taskId -> ends kept of its occupancies (includes/tombstones.lua)
KEYS[4] expiry  zset  slotId scored by when its current state lapses

ARGV[1] taskId
ARGV[2] token, or '' for any occupancy of the task

Returns one of:
  {0, occupancy JSON}                  renewed
  {-1}                                unknown
  {-3, slotId, token, endReason}       timed_out
  {-4, slotId, token, endReason}       ended
]]

-- @include clock.lua
-- @include tombstones.lua
-- @include resolve.lua

local now = now_ms()
local slot_id, slot = resolve(ARGV[1], ARGV[2] ~= '' and tonumber(ARGV[2]) or nil, now)
if not slot_id then return slot end

local occ = slot.occupancy
-- Counted for the history, in the record written anyway.
slot.keepalives = (tonumber(slot.keepalives) or 0) + 1
occ.lastKeepaliveAt = now
occ.deadline = now + occ.timeoutMs

redis.call('HSET', KEYS[1], slot_id, cjson.encode(slot))
redis.call('ZADD', KEYS[4], lapses_at(occ), slot_id)
return { 0, cjson.encode(occ) }
