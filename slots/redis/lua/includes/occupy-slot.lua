-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua.

-- Starts a task in a slot, as start-3.lua does for a reservation and a grant or an acquire for a
-- slot they take idle: writes the slot record (running), the task index and when the occupancy
-- lapses (the expiry index). `keys` names those three keys ({slots, tasks, expiry}): scripts
-- number their KEYS differently. `o` gives the occupancy: taskId, backend, timeoutMs,
-- maxRuntimeMs (nil or null for no cap), and the slot's token and owner, with what the history
-- keeps of it: when the slot was reserved (reservedAt, nil when not known) and whether timeoutMs
-- is a process lease (processLease); the keepalive count starts at 0. Returns the occupancy JSON.
local function occupy_slot(keys, slot_id, o, now)
  local cap = not is_null(o.maxRuntimeMs) and o.maxRuntimeMs or nil
  local occ = {
    slotId = slot_id,
    token = o.token,
    taskId = o.taskId,
    backend = o.backend,
    owner = o.owner,
    startedAt = now,
    lastKeepaliveAt = now,
    deadline = now + o.timeoutMs,
    maxDeadline = cap and (now + cap) or cjson.null,
    timeoutMs = o.timeoutMs,
    maxRuntimeMs = cap or cjson.null,
    cancelRequested = false,
  }
  local occ_json = cjson.encode(occ)
  -- The slot record around the occupancy's JSON, which the reply carries too: encoded once.
  local slot_json = '{"status":"running","token":' .. cjson.encode(o.token) .. ',"owner":' .. cjson.encode(o.owner)
    .. ',"leaseUntil":null,"reservedAt":' .. cjson.encode(o.reservedAt) .. ',"keepalives":0,"processLease":'
    .. (o.processLease and 'true' or 'false') .. ',"occupancy":' .. occ_json .. '}'
  redis.call('HSET', keys.slots, slot_id, slot_json)
  redis.call('HSET', keys.tasks, o.taskId, slot_id)
  redis.call('ZADD', keys.expiry, lapses_at(occ), slot_id)
  return occ_json
end

-- The slot that holds task_id (the uniqueness index: a task id holds at most one slot, overdue or
-- not, until it ends), its occupancy, and when that ends by itself (lapses_at); a record without
-- its occupancy (never written so) gives nil and now. Nil when no slot holds the task id.
local function holder_of(keys, task_id, now)
  local slot_id = redis.call('HGET', keys.tasks, task_id)
  if not slot_id then return nil end
  local raw = redis.call('HGET', keys.slots, slot_id)
  local occ = raw and cjson.decode(raw).occupancy
  if not occ or is_null(occ) then return slot_id, nil, now end
  return slot_id, occ, lapses_at(occ)
end
