--[[
Turns a reservation into a running occupancy of a task, if the slot is still reserved under the
given token, the lease has not lapsed, and the task id does not already occupy a slot.

KEYS[1] slots     hash   slotId -> slot record JSON
KEYS[2] tasks     hash   taskId -> slotId of its running occupancy
KEYS[3] ended     hash   taskId -> tombstone JSON
KEYS[4] expiry    zset   slotId scored by when its current state lapses
KEYS[5] ended-at  zset   taskId scored by endedAt

ARGV[1] slotId
ARGV[2] token
ARGV[3] taskId
ARGV[4] backend
ARGV[5] timeoutMs
ARGV[6] maxRuntimeMs, or '' for no runtime cap

Returns one of:
  {0, occupancy JSON}   started
  {-5, slotId}          duplicate: the task already occupies slotId
  {-6}                  reservation_lost
]]

-- @include clock.lua

local now = now_ms()
local slot_id = ARGV[1]
local token = tonumber(ARGV[2])
local task_id = ARGV[3]
local timeout_ms = tonumber(ARGV[5])
local max_runtime_ms = ARGV[6] ~= '' and tonumber(ARGV[6]) or nil

local raw = redis.call('HGET', KEYS[1], slot_id)
if not raw then return { -6 } end
local slot = cjson.decode(raw)
if slot.status ~= 'reserved' or slot.token ~= token or slot.leaseUntil == cjson.null
  or slot.leaseUntil <= now then
  return { -6 }
end

-- The uniqueness index: a task id holds at most one slot, overdue or not, until it ends.
local holder = redis.call('HGET', KEYS[2], task_id)
if holder then return { -5, holder } end

local occ = {
  slotId = slot_id,
  token = slot.token,
  taskId = task_id,
  backend = ARGV[4],
  owner = slot.owner,
  startedAt = now,
  lastKeepaliveAt = now,
  deadline = now + timeout_ms,
  maxDeadline = max_runtime_ms and (now + max_runtime_ms) or cjson.null,
  timeoutMs = timeout_ms,
  maxRuntimeMs = max_runtime_ms or cjson.null,
  cancelRequested = false,
}
slot.status = 'running'
slot.leaseUntil = cjson.null
slot.occupancy = occ

local expires = occ.deadline
if max_runtime_ms and occ.maxDeadline < expires then expires = occ.maxDeadline end

redis.call('HSET', KEYS[1], slot_id, cjson.encode(slot))
redis.call('HSET', KEYS[2], task_id, slot_id)
redis.call('ZADD', KEYS[4], expires, slot_id)
-- A new occupancy supersedes what was kept of the task's previous one.
redis.call('HDEL', KEYS[3], task_id)
redis.call('ZREM', KEYS[5], task_id)

return { 0, cjson.encode(occ) }
