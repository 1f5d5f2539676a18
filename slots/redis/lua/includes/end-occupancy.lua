-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua,
-- free-slot.lua and tombstones.lua.
-- Needs KEYS[1] slots, KEYS[2] tasks, KEYS[3] ended, KEYS[4] expiry, KEYS[5] ended-at, KEYS[6] outbox,
-- KEYS[10] history.
--
-- The history is a stream of one entry per ended occupancy, in end order, trimmed to about
-- history_max entries (MAXLEN ~: whole nodes at a time, so at least that many stay). Fields:
--   o  the ended-occupancy JSON (the record the end returns)
--   k  keepalives that renewed it
--   r  when its slot was reserved (ms), or '' where the record did not say
--   l  '1' when it ran on a process lease, else '0'
-- The reader (redis-store.ts) turns an entry into a HistoryRecord and its outcome.

-- Ends the running occupancy of a slot: frees the slot, drops the task from the index, keeps its
-- tombstone, appends its history entry (unless history_max is 0: history off), and queues the
-- ended record in the outbox unless `delivered`. Returns the record JSON. With `deferred`, the
-- slot record is left unwritten (its occupancy cleared in `slot`) for the caller to write next, as
-- it grants, reserves or frees the slot.
local function end_occupancy(slot_id, slot, reason, status, err, now, delivered, outbox_limit, history_max, deferred)
  local occ = slot.occupancy
  local reserved_at, keepalives, process_lease = slot.reservedAt, slot.keepalives, slot.processLease
  if deferred then
    -- The caller writes the slot next: one write of the record, not two.
    slot.occupancy = cjson.null
    slot.keepalives = nil
    slot.processLease = nil
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
  if history_max > 0 then
    redis.call('XADD', KEYS[10], 'MAXLEN', '~', history_max, '*', 'o', record,
      'k', string.format('%d', tonumber(keepalives) or 0),
      'r', is_null(reserved_at) and '' or string.format('%d', reserved_at), 'l', process_lease == true and '1' or '0')
  end
  if not delivered then
    redis.call('RPUSH', KEYS[6], record)
    redis.call('LTRIM', KEYS[6], -outbox_limit, -1)
  end
  return record
end
