--[[
Flags a running occupancy so that its next keepalive reports cancelRequested.

KEYS[1] slots  hash  slotId -> slot record JSON
KEYS[2] tasks  hash  taskId -> slotId of its running occupancy
KEYS[3] ended  hash  taskId -> ends kept of its occupancies (includes/tombstones.lua)

ARGV[1] taskId
ARGV[2] token, or '' for any occupancy of the task
ARGV[3] events channel: {"type":"cancel","taskId":...,"token":...} is published on it

Returns one of:
  {0, occupancy JSON, alreadyRequested}  flagged; alreadyRequested is 1 or 0
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
local already = occ.cancelRequested == true
if not already then
  occ.cancelRequested = true
  redis.call('HSET', KEYS[1], slot_id, cjson.encode(slot))
end
redis.call('PUBLISH', ARGV[3], cjson.encode({ type = 'cancel', taskId = occ.taskId, token = occ.token }))
return { 0, cjson.encode(occ), already and 1 or 0 }
