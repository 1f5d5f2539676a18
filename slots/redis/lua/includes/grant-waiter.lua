-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it), after clock.lua,
-- next-token.lua, occupy-slot.lua and waiters.lua.
-- Needs q (see waiters.lua) to name also the keys a grant writes, q.slots, q.tasks, q.expiry and
-- q.token, and q.channel, the events channel.

-- Takes an idle slot for a request (a waiter's record, decoded, or an acquire's own in the same
-- shape) whose limits for the slot start at index i: reserved and started now, under the next
-- fencing token, as beginPass and start would have. Returns the occupancy JSON and the token.
local function take_slot(q, slot_id, task_id, w, i, now)
  local token = next_token(q.token)
  local occ_json = occupy_slot(q, slot_id, {
    token = token, owner = w[1], reservedAt = now, processLease = w[3] == true,
    taskId = task_id, backend = w[2], timeoutMs = w[i + 1], maxRuntimeMs = w[i + 2],
  }, now)
  return occ_json, token
end

-- Gives a slot that turned idle to the first waiter, in arrival order, whose request lists it
-- (lapsed entries dropped first), and publishes {"type":"granted",...}; the waiter's entry goes.
-- A waiter whose task id holds a slot already is passed over: a task id holds at most one.
-- Returns the occupancy JSON, or nil when no waiter takes the slot, which the caller then frees
-- or reserves. With nobody waiting it costs one ZCARD, and nothing after the first call.
local function grant_waiter(q, slot_id, now)
  if queue_empty(q) then return nil end
  drop_lapsed(q, now)
  local granted, token
  local orphans = {}
  local from = 0
  while not granted do
    local ids = redis.call('ZRANGE', q.queue, from, from + 99)
    if #ids == 0 then break end
    local records = redis.call('HMGET', q.waiters, unpack(ids))
    for n, task_id in ipairs(ids) do
      local w = records[n] and cjson.decode(records[n])
      local i = w and listed_at(w, slot_id)
      if not w then
        orphans[#orphans + 1] = task_id -- a queue entry without its request
      elseif i and redis.call('HEXISTS', q.tasks, task_id) == 0 then
        granted, token = take_slot(q, slot_id, task_id, w, i, now)
        drop_waiter(q, task_id)
        local event = { type = 'granted', taskId = task_id, token = token, slotId = slot_id }
        redis.call('PUBLISH', q.channel, cjson.encode(event))
        break
      end
    end
    from = from + #ids
  end
  for _, task_id in ipairs(orphans) do drop_waiter(q, task_id) end
  return granted
end
