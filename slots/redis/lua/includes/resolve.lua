-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua.
-- Needs KEYS[1] slots, KEYS[2] tasks and KEYS[3] ended.

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
