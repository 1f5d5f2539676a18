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
-- @include finite-arg.lua
-- @include occupy-slot.lua

local keys = { slots = KEYS[1], tasks = KEYS[2], expiry = KEYS[3] }

local function start_slot(slot_id, token, task_id, backend, timeout_ms, max_runtime_ms, process_lease, now)
  local raw = redis.call('HGET', KEYS[1], slot_id)
  if not raw then return { -6 } end
  local slot = cjson.decode(raw)
  if slot.status ~= 'reserved' or slot.token ~= token or slot.leaseUntil == cjson.null
    or slot.leaseUntil <= now then
    return { -6 }
  end

  local holder, _, expires_at = holder_of(keys, task_id, now)
  if holder then return { -5, holder, expires_at, now } end

  return { 0, occupy_slot(keys, slot_id, {
    token = slot.token, owner = slot.owner, reservedAt = slot.reservedAt, processLease = process_lease,
    taskId = task_id, backend = backend, timeoutMs = timeout_ms, maxRuntimeMs = max_runtime_ms,
  }, now) }
end

-- Every request is checked before any acts: a script that fails half way keeps what it wrote.
if #ARGV % 7 ~= 0 then error('start-3: expected 7 ARGV per request, got ' .. #ARGV) end
local requests = {}
for i = 1, #ARGV, 7 do
  requests[#requests + 1] = {
    ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], finite_arg('start-3', i + 4),
    ARGV[i + 5] ~= '' and finite_arg('start-3', i + 5) or nil, ARGV[i + 6] == '1',
  }
end

local now = now_ms()
local replies = {}
for i, r in ipairs(requests) do
  replies[i] = start_slot(r[1], r[2], r[3], r[4], r[5], r[6], r[7], now)
end
return replies
