--[[
Ends a running occupancy (stop, start failure, backend removal): frees its slot, keeps a
tombstone of the task, and queues the ended record in the outbox when the caller cannot
deliver its backend's callbacks.

KEYS[1] slots     hash  slotId -> slot record JSON
KEYS[2] tasks     hash  taskId -> slotId of its running occupancy
KEYS[3] ended     hash  taskId -> tombstone JSON {slotId, token, reason, endedAt}
KEYS[4] expiry    zset  slotId scored by when its current state lapses
KEYS[5] ended-at  zset  taskId scored by endedAt
KEYS[6] outbox    list  ended-occupancy JSON, oldest first

ARGV[1] JSON {taskId, token?, reason, status, error, deliverable: [backend...], notify}
        (status and error are strings or null)
ARGV[2] outboxLimit
ARGV[3] events channel: with notify, {"type":"freed","slotId":...} is published on it

Returns one of:
  {0, ended-occupancy JSON, delivered}  ended; delivered is 1, or 0 when queued in the outbox
  {-1}                                unknown
  {-2, slotId, token}                  superseded
  {-3, slotId, token, endReason}       timed_out
  {-4, slotId, token, endReason}       ended
]]

-- @include clock.lua
-- @include resolve.lua
-- @include end-occupancy.lua

local now = now_ms()
local req = cjson.decode(ARGV[1])
local outbox_limit = tonumber(ARGV[2])
local slot_id, slot = resolve(req.taskId, not is_null(req.token) and req.token or nil, now)
if not slot_id then return slot end

local occ = slot.occupancy
local reason = req.reason
-- A stop after a cancel request, or reported as cancelled, ends as 'cancelled'.
if reason == 'stopped' and (occ.cancelRequested == true or req.status == 'cancelled') then
  reason = 'cancelled'
end

local delivered = false
for _, backend in ipairs(req.deliverable) do
  if backend == occ.backend then delivered = true end
end
local record = end_occupancy(slot_id, slot, reason, is_null(req.status) and cjson.null or req.status,
  is_null(req.error) and cjson.null or req.error, now, delivered, outbox_limit)
if req.notify == true then
  redis.call('PUBLISH', ARGV[3], cjson.encode({ type = 'freed', slotId = slot_id }))
end
return { 0, record, delivered and 1 or 0 }
