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

-- Finds the running, unexpired occupancy of task_id (under token, when given).
-- Returns slot_id, slot; or nil and the lost reply saying why not.
local function resolve(task_id, token, now)
  local slot_id = redis.call('HGET', KEYS[2], task_id)
  if not slot_id then
    local raw = redis.call('HGET', KEYS[3], task_id)
    if not raw then return nil, { -1 } end
    local tomb = cjson.decode(raw)
    if token and token ~= tomb.token then return nil, { -2, tomb.slotId, tomb.token } end
    if tomb.reason == 'timeout' or tomb.reason == 'max_runtime' then
      return nil, { -3, tomb.slotId, tomb.token, tomb.reason }
    end
    return nil, { -4, tomb.slotId, tomb.token, tomb.reason }
  end
  local raw = redis.call('HGET', KEYS[1], slot_id)
  local slot = raw and cjson.decode(raw)
  if not slot or slot.status ~= 'running' or is_null(slot.occupancy) then return nil, { -1 } end
  local occ = slot.occupancy
  if token and token ~= occ.token then return nil, { -2, slot_id, occ.token } end
  -- An overdue occupancy is never renewed, stopped or cancelled: only beginPass reaps it.
  local reason = expiry_reason(occ, now)
  if reason then return nil, { -3, slot_id, occ.token, reason } end
  return slot_id, slot
end

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

slot.status = 'idle'
slot.owner = cjson.null
slot.leaseUntil = cjson.null
slot.occupancy = cjson.null
redis.call('HSET', KEYS[1], slot_id, cjson.encode(slot))
redis.call('ZREM', KEYS[4], slot_id)
redis.call('HDEL', KEYS[2], occ.taskId)
redis.call('HSET', KEYS[3], occ.taskId,
  cjson.encode({ slotId = slot_id, token = occ.token, reason = reason, endedAt = now }))
redis.call('ZADD', KEYS[5], now, occ.taskId)

occ.reason = reason
occ.endedAt = now
occ.status = is_null(req.status) and cjson.null or req.status
occ.error = is_null(req.error) and cjson.null or req.error
local record = cjson.encode(occ)

local delivered = false
for _, backend in ipairs(req.deliverable) do
  if backend == occ.backend then delivered = true end
end
if not delivered then
  redis.call('RPUSH', KEYS[6], record)
  redis.call('LTRIM', KEYS[6], -outbox_limit, -1)
end
if req.notify == true then
  redis.call('PUBLISH', ARGV[3], cjson.encode({ type = 'freed', slotId = slot_id }))
end
return { 0, record, delivered and 1 or 0 }
