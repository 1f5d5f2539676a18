-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua
-- and tombstones.lua.
-- Needs KEYS[1] slots, KEYS[2] tasks and KEYS[3] ended.

-- Finds the running, unexpired occupancy of task_id (under token, when given).
-- Returns slot_id, slot; or nil and the lost reply saying why not: how that occupancy ended, if
-- its end is kept, else unknown.
local function resolve(task_id, token, now)
  local slot_id = redis.call('HGET', KEYS[2], task_id)
  local raw = slot_id and redis.call('HGET', KEYS[1], slot_id)
  local slot = raw and cjson.decode(raw)
  local occ = slot and slot.status == 'running' and not is_null(slot.occupancy) and slot.occupancy
  if not occ or (token and token ~= occ.token) then
    local tomb = find_end(task_id, token)
    if not tomb then return nil, { -1 } end
    if tomb.reason == 'timeout' or tomb.reason == 'max_runtime' then
      return nil, { -3, tomb.slotId, tomb.token, tomb.reason }
    end
    return nil, { -4, tomb.slotId, tomb.token, tomb.reason }
  end
  -- An overdue occupancy is never renewed, stopped or cancelled: only beginPass reaps it.
  local reason = expiry_reason(occ, now)
  if reason then return nil, { -3, slot_id, occ.token, reason } end
  return slot_id, slot
end
