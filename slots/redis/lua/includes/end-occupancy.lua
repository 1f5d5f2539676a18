-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua,
-- free-slot.lua and tombstones.lua.
-- Needs KEYS[1] slots, KEYS[2] tasks, KEYS[3] ended, KEYS[4] expiry, KEYS[5] ended-at, KEYS[6] outbox.

-- Ends the running occupancy of a slot: frees the slot, drops the task from the index, keeps its
-- tombstone, and queues the ended record in the outbox unless `delivered`. Returns the record JSON.
-- With `kept`, the slot record is left unwritten (its occupancy cleared in `slot`) for the caller
-- to reserve at once.
local function end_occupancy(slot_id, slot, reason, status, err, now, delivered, outbox_limit, kept)
  local occ = slot.occupancy
  if kept then
    -- The caller reserves the slot next and writes it then: one write of the record, not two.
    slot.occupancy = cjson.null
  else
    free_slot(KEYS[1], KEYS[4], slot_id, slot)
  end
  redis.call('HDEL', KEYS[2], occ.taskId)
  keep_end(occ.taskId, slot_id, occ.token, reason, now)
  occ.reason = reason
  occ.endedAt = now
  occ.status = status
  occ.error = err
  local record = cjson.encode(occ)
  if not delivered then
    redis.call('RPUSH', KEYS[6], record)
    redis.call('LTRIM', KEYS[6], -outbox_limit, -1)
  end
  return record
end
