-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after next-token.lua.
-- Needs KEYS[1] slots, KEYS[4] expiry and KEYS[7] token.

-- Reserves a slot for owner from now until lease_until under the next fencing token, and indexes
-- the lease so that a pass reaps it once lapsed: one shape for beginPass and for an end that keeps
-- the slot. The slot record keeps when it was reserved, for the history. Returns the token.
local function reserve_slot(slot_id, slot, owner, now, lease_until)
  local token = next_token(KEYS[7])
  slot.status = 'reserved'
  slot.token = token
  slot.owner = owner
  slot.reservedAt = now
  slot.leaseUntil = lease_until
  redis.call('HSET', KEYS[1], slot_id, cjson.encode(slot))
  redis.call('ZADD', KEYS[4], lease_until, slot_id)
  return token
end
