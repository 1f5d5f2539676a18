-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua.
-- Needs KEYS[3] ended and KEYS[5] ended-at.
--
-- What is kept of ended occupancies, per task id: ended[taskId] is the tombstone of its last one,
-- {slotId, token, reason, endedAt}, with `earlier`, the tombstones of its earlier ones still
-- within retention, newest first. A task that ran again does not hide the end of an earlier
-- occupancy: its holder learns how it ended (and that another process delivered that end),
-- where one record per task would answer a stale token as if the store had lost it. ended-at
-- scores each task id by its oldest kept end, which is what pruning is due by.

-- Keeps the end of an occupancy of task_id (a new token, ending now).
local function keep_end(task_id, slot_id, token, reason, now)
  local tomb = { slotId = slot_id, token = token, reason = reason, endedAt = now }
  local raw = redis.call('HGET', KEYS[3], task_id)
  if raw then
    local last = cjson.decode(raw)
    local earlier = last.earlier or {}
    last.earlier = nil
    table.insert(earlier, 1, last)
    tomb.earlier = earlier
  end
  redis.call('HSET', KEYS[3], task_id, cjson.encode(tomb))
  -- Scored by the oldest end kept: a task id already kept keeps its score.
  redis.call('ZADD', KEYS[5], 'NX', now, task_id)
end

-- The tombstone of task_id's occupancy under token, or of its last one without a token; or nil.
local function find_end(task_id, token)
  local raw = redis.call('HGET', KEYS[3], task_id)
  if not raw then return nil end
  local tomb = cjson.decode(raw)
  if not token or tomb.token == token then return tomb end
  for _, earlier in ipairs(tomb.earlier or {}) do
    if earlier.token == token then return earlier end
  end
  return nil
end

-- Forgets the ends at or before cutoff, for at most `limit` task ids.
local function prune_ends(cutoff, limit)
  local due = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', cutoff, 'LIMIT', 0, limit)
  for _, task_id in ipairs(due) do
    local raw = redis.call('HGET', KEYS[3], task_id)
    local tomb = raw and cjson.decode(raw)
    if not tomb or tomb.endedAt <= cutoff then
      redis.call('HDEL', KEYS[3], task_id)
      redis.call('ZREM', KEYS[5], task_id)
    else
      -- The last end is recent: keep it and the earlier ends after cutoff (newest first).
      local kept = {}
      for _, earlier in ipairs(tomb.earlier or {}) do
        if earlier.endedAt > cutoff then kept[#kept + 1] = earlier end
      end
      tomb.earlier = #kept > 0 and kept or nil
      redis.call('HSET', KEYS[3], task_id, cjson.encode(tomb))
      redis.call('ZADD', KEYS[5], #kept > 0 and kept[#kept].endedAt or tomb.endedAt, task_id)
    end
  end
end
