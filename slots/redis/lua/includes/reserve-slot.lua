-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).
-- Needs KEYS[1] slots, KEYS[4] expiry and KEYS[7] token.

-- The next fencing token. A counter that was missing (a new scheduler name, or a Redis that lost
-- its keys: restarted without persistence, flushed, failed over to an empty replica) starts from
-- the clock, in tenths of a millisecond, not from 1: tokens keep growing past those handed out
-- before the loss, as long as the name took fewer than 10 a millisecond on average. They stay
-- under 10^14, which cjson encodes exactly (it writes 14 significant digits).
local function next_token()
  local token = redis.call('INCR', KEYS[7])
  if token ~= 1 then return token end
  local t = redis.call('TIME')
  local seed = t[1] .. string.format('%04d', math.floor(tonumber(t[2]) / 100))
  redis.call('SET', KEYS[7], seed)
  return tonumber(seed)
end

-- Reserves a slot for owner from now until lease_until under the next fencing token, and indexes
-- the lease so that a pass reaps it once lapsed: one shape for beginPass and for an end that keeps
-- the slot. The slot record keeps when it was reserved, for the history. Returns the token.
local function reserve_slot(slot_id, slot, owner, now, lease_until)
  local token = next_token()
  slot.status = 'reserved'
  slot.token = token
  slot.owner = owner
  slot.reservedAt = now
  slot.leaseUntil = lease_until
  redis.call('HSET', KEYS[1], slot_id, cjson.encode(slot))
  redis.call('ZADD', KEYS[4], lease_until, slot_id)
  return token
end
