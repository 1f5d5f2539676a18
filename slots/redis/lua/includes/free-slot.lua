-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).

-- Sets a slot idle (no owner, lease or occupancy, nor what the history keeps of them), saves it
-- in the slots hash and drops it from the expiry index. The keys are parameters: scripts number
-- their KEYS differently.
local function free_slot(slots_key, expiry_key, slot_id, slot)
  slot.status = 'idle'
  slot.owner = cjson.null
  slot.leaseUntil = cjson.null
  slot.occupancy = cjson.null
  slot.reservedAt = nil
  slot.keepalives = nil
  slot.processLease = nil
  redis.call('HSET', slots_key, slot_id, cjson.encode(slot))
  redis.call('ZREM', expiry_key, slot_id)
end
