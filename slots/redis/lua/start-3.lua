--[[
Turns reservations into running occupancies of tasks, one start request after the other in the
order given (a later request sees what an earlier one did): each starts if its slot is still
reserved under the given token, the lease has not lapsed, and the task id does not already occupy
a slot. One request or many, so that a refill round costs one round trip.

KEYS[1] slots     hash   slotId -> slot record JSON
KEYS[2] tasks     hash   taskId -> slotId of its running occupancy
KEYS[3] expiry    zset   slotId scored by when its current state lapses

The ends kept of the task's earlier occupancies stay (see includes/tombstones.lua).

ARGV  7 per request, from ARGV[7i-6] to ARGV[7i] for request i:
      slotId, token, taskId, backend, timeoutMs, maxRuntimeMs or '' for no runtime cap,
      processLease ('1' when timeoutMs is the process lease of a task run in the caller's process,
      else '0'; kept in the slot record for the history, with the reservation's time and a
      keepalive count of 0)

Returns one reply per request, in order, each one of:
  {0, occupancy JSON}   started
  {-5, slotId, expiresAt, now}
                        duplicate: the task already occupies slotId, whose occupancy ends by
                        itself at expiresAt (the earlier of its deadline and max deadline), by
                        the clock that reads now
  {-6}                  reservation_lost
Raises an error, having changed nothing, when ARGV is not groups of 7 or a timeoutMs or
maxRuntimeMs is not a finite number.
]]

-- @include clock.lua

local function start_slot(slot_id, token, task_id, backend, timeout_ms, max_runtime_ms, process_lease, now)
  local raw = redis.call('HGET', KEYS[1], slot_id)
  if not raw then return { -6 } end
  local slot = cjson.decode(raw)
  if slot.status ~= 'reserved' or slot.token ~= token or slot.leaseUntil == cjson.null
    or slot.leaseUntil <= now then
    return { -6 }
  end

  -- The uniqueness index: a task id holds at most one slot, overdue or not, until it ends.
  local holder = redis.call('HGET', KEYS[2], task_id)
  if holder then
    -- When the holder ends by itself; a record without its occupancy (never written so) says now.
    local held_raw = redis.call('HGET', KEYS[1], holder)
    local held = held_raw and cjson.decode(held_raw).occupancy
    local expires_at = now
    if held and not is_null(held) then
      expires_at = held.deadline
      if not is_null(held.maxDeadline) and held.maxDeadline < expires_at then expires_at = held.maxDeadline end
    end
    return { -5, holder, expires_at, now }
  end

  local occ = {
    slotId = slot_id,
    token = slot.token,
    taskId = task_id,
    backend = backend,
    owner = slot.owner,
    startedAt = now,
    lastKeepaliveAt = now,
    deadline = now + timeout_ms,
    maxDeadline = max_runtime_ms and (now + max_runtime_ms) or cjson.null,
    timeoutMs = timeout_ms,
    maxRuntimeMs = max_runtime_ms or cjson.null,
    cancelRequested = false,
  }
  local occ_json = cjson.encode(occ)
  -- The slot record around the occupancy's JSON, which the reply carries too: encoded once.
  local slot_json = '{"status":"running","token":' .. cjson.encode(slot.token) .. ',"owner":' .. cjson.encode(slot.owner)
    .. ',"leaseUntil":null,"reservedAt":' .. cjson.encode(slot.reservedAt) .. ',"keepalives":0,"processLease":'
    .. (process_lease and 'true' or 'false') .. ',"occupancy":' .. occ_json .. '}'

  local expires = occ.deadline
  if max_runtime_ms and occ.maxDeadline < expires then expires = occ.maxDeadline end

  redis.call('HSET', KEYS[1], slot_id, slot_json)
  redis.call('HSET', KEYS[2], task_id, slot_id)
  redis.call('ZADD', KEYS[3], expires, slot_id)

  return { 0, occ_json }
end

-- A script that fails half way keeps what it wrote, so every request is checked before any acts.
local function finite(i)
  local n = tonumber(ARGV[i])
  if not n or n ~= n or n == math.huge or n == -math.huge then
    error('start-3: ARGV[' .. i .. '] is not a finite number: ' .. tostring(ARGV[i]))
  end
  return n
end
if #ARGV % 7 ~= 0 then error('start-3: expected 7 ARGV per request, got ' .. #ARGV) end
local requests = {}
for i = 1, #ARGV, 7 do
  requests[#requests + 1] = {
    ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], finite(i + 4),
    ARGV[i + 5] ~= '' and finite(i + 5) or nil, ARGV[i + 6] == '1',
  }
end

local now = now_ms()
local replies = {}
for i, r in ipairs(requests) do
  replies[i] = start_slot(r[1], r[2], r[3], r[4], r[5], r[6], r[7], now)
end
return replies
