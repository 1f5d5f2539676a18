-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).
--
-- The acquire queue of one scheduler name: waiters for a slot, first come first served. `q` names
-- its keys, as each script passes them:
--   q.queue    zset  taskId scored by arrival: a new entry scores one past the last one, a renewal
--                    keeps its score, so its place
--   q.due      zset  taskId scored by when its entry lapses unless renewed (store-clock ms)
--   q.waiters  hash  taskId -> the waiting request, a JSON array:
--                    [owner, backend, processLease, slotId1, timeoutMs1, maxRuntimeMs1 or null, slotId2, ...]
-- An entry is in all three keys or in none. Lapsed entries are dropped when met: before a grant
-- looks for a waiter, and before an acquire counts its position.

-- True once the queue was found empty: it stays so for the rest of the script, as only
-- enqueue_waiter adds to it.
local queue_known_empty = false

-- Whether nobody waits: one ZCARD, then none for the rest of the script while it stays empty.
local function queue_empty(q)
  if not queue_known_empty then queue_known_empty = redis.call('ZCARD', q.queue) == 0 end
  return queue_known_empty
end

-- Where a waiting request's limits for slot_id start in its record, or nil when it does not list it.
local function listed_at(w, slot_id)
  for i = 4, #w - 2, 3 do
    if w[i] == slot_id then return i end
  end
  return nil
end

local function drop_waiter(q, task_id)
  redis.call('ZREM', q.queue, task_id)
  redis.call('ZREM', q.due, task_id)
  redis.call('HDEL', q.waiters, task_id)
end

-- Drops the entries that lapsed at or before now.
local function drop_lapsed(q, now)
  for _, task_id in ipairs(redis.call('ZRANGEBYSCORE', q.due, '-inf', now)) do drop_waiter(q, task_id) end
end

-- Queues a request (its record JSON) at the end, until lease_until.
local function enqueue_waiter(q, task_id, record, lease_until)
  local last = redis.call('ZRANGE', q.queue, -1, -1, 'WITHSCORES')
  redis.call('ZADD', q.queue, (tonumber(last[2]) or 0) + 1, task_id)
  redis.call('ZADD', q.due, lease_until, task_id)
  redis.call('HSET', q.waiters, task_id, record)
  queue_known_empty = false
end
