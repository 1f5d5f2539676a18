--[[
Flags a running occupancy so that its next keepalive reports cancelRequested.

KEYS[1] slots  hash  slotId -> slot record JSON
KEYS[2] tasks  hash  taskId -> slotId of its running occupancy
KEYS[3] ended  hash  taskId -> tombstone JSON {slotId, token, reason, endedAt}

ARGV[1] taskId
ARGV[2] token, or '' for any occupancy of the task
ARGV[3] events channel: {"type":"cancel","taskId":...,"token":...} is published on it

Returns one of:
  {0, occupancy JSON, alreadyRequested}  flagged; alreadyRequested is 1 or 0
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
