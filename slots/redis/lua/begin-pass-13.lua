--[[
Starts a schedule() pass for one scheduler name, atomically: reaps lapsed reservations and
timed-out occupancies (any slot of the name), takes deliverable records whose delivery lease
lapsed and deliverable outbox entries, prunes old tombstones, gives the reaped slots to the
waiters of the acquire queue, reserves every idle slot of the caller's list that no waiter takes
(includes/grant-waiter.lua), then announces the reaped slots it left idle. With a delivery lease
(ARGV[10]), every record it returns is leased to the caller in the delivery log until
acknowledged or due.

KEYS[1] slots     hash   slotId -> slot record JSON
KEYS[2] tasks     hash   taskId -> slotId of its running occupancy
KEYS[3] ended     hash   taskId -> ends kept of its occupancies (includes/tombstones.lua)
KEYS[4] expiry    zset   slotId scored by when its current state lapses
KEYS[5] ended-at  zset   taskId scored by its oldest end kept
KEYS[6] outbox    list   ended-occupancy JSON, oldest first
KEYS[7] token     string fencing-token counter
KEYS[8] deliveries     hash  "<token>:<taskId>" -> {"owner":..., "record": ended-occupancy}
KEYS[9] delivery-due   zset  the same fields, scored by when their lease lapses
KEYS[10] history       stream one entry per ended occupancy (includes/end-occupancy.lua)
KEYS[11] queue         zset  waiting taskId scored by arrival (includes/waiters.lua)
KEYS[12] queue-due     zset  waiting taskId scored by when its entry lapses
KEYS[13] waiters       hash  waiting taskId -> its request

ARGV[1] slot ids to reserve, JSON array of strings, in config order
ARGV[2] owner (scheduler instance id)
ARGV[3] leaseMs
ARGV[4] deliverable backends, JSON array of strings
ARGV[5] retentionMs
ARGV[6] limit: most reaps, redeliveries and outbox takes in this call (also the most tombstones
        pruned)
ARGV[7] outboxLimit
ARGV[8] maxReserve: most idle slots to reserve, first in ARGV[1] order; -1 for all
ARGV[9] events channel: {"type":"granted","taskId":...,"token":...,"slotId":...} is published on
        it for each slot given to a waiter, and with ARGV[12], {"type":"freed","slotId":...} for
        each slot this call reaps and leaves idle (not granted, nor reserved by step 6)
ARGV[10] delivery lease ms; -1 (or absent) for none: records are then handed out unlogged, and
         no lapsed delivery is taken
ARGV[11] history max entries (about how many the stream keeps); 0 (or absent) for no history
ARGV[12] '1' to publish freed (see ARGV[9]), else '0'

Returns {now, expiredReservations, ended, reserved, running}:
  now                  integer ms, Redis TIME
  expiredReservations  integer
  ended                array of ended-occupancy JSON strings: reaped first, then redeliveries
                       (oldest due first, with redelivered = true), then outbox takes
  reserved             flat array slotId1, token1, slotId2, token2, ... in ARGV[1] order
  running              array of occupancy JSON strings, in ARGV[1] order (granted ones
                       included)
]]

-- @include clock.lua
-- @include free-slot.lua
-- @include tombstones.lua
-- @include end-occupancy.lua
-- @include next-token.lua
-- @include reserve-slot.lua
-- @include lease-delivery.lua
-- @include occupy-slot.lua
-- @include waiters.lua
-- @include grant-waiter.lua

local now = now_ms()
local slot_ids = cjson.decode(ARGV[1])
local owner = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local deliverable = {}
for _, backend in ipairs(cjson.decode(ARGV[4])) do deliverable[backend] = true end
local retention_ms = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local outbox_limit = tonumber(ARGV[7])
local max_reserve = tonumber(ARGV[8] or '-1')
local delivery_lease_ms = tonumber(ARGV[10] or '-1')
local leasing = delivery_lease_ms >= 0
local history_max = tonumber(ARGV[11] or '0')
local q = {
  slots = KEYS[1], tasks = KEYS[2], expiry = KEYS[4], token = KEYS[7],
  queue = KEYS[11], due = KEYS[12], waiters = KEYS[13], channel = ARGV[9],
}
local notify = ARGV[12] == '1'

local budget = limit
local expired = 0
local ended = {}
-- Slots set idle by the reaping below.
local reaped = {}

-- 1. Reap: the expiry index names exactly the slots whose state has lapsed, oldest first.
if budget > 0 then
  local due = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, budget)
  for _, slot_id in ipairs(due) do
    local raw = redis.call('HGET', KEYS[1], slot_id)
    local slot = raw and cjson.decode(raw)
    local reason = slot and slot.status == 'running' and not is_null(slot.occupancy)
      and expiry_reason(slot.occupancy, now)
    if slot and slot.status == 'reserved' and not is_null(slot.leaseUntil) and slot.leaseUntil <= now then
      free_slot(KEYS[1], KEYS[4], slot_id, slot)
      reaped[#reaped + 1] = slot_id
      expired = expired + 1
      budget = budget - 1
    elseif reason then
      local occ = slot.occupancy -- end_occupancy clears it from the slot
      local delivered = deliverable[occ.backend] == true
      local record = end_occupancy(slot_id, slot, reason, cjson.null, cjson.null, now, delivered, outbox_limit, history_max)
      if delivered then
        ended[#ended + 1] = record
        if leasing then lease_delivery(record, occ.taskId, occ.token, owner, now + delivery_lease_ms) end
      end
      reaped[#reaped + 1] = slot_id
      budget = budget - 1
    else
      -- A stale index entry (no record, idle, or a score behind the record): drop it, or
      -- re-score it from the record, without spending the budget.
      local score = nil
      if slot and slot.status == 'reserved' and not is_null(slot.leaseUntil) then
        score = slot.leaseUntil
      elseif slot and slot.status == 'running' and not is_null(slot.occupancy) then
        score = lapses_at(slot.occupancy)
      end
      if score then
        redis.call('ZADD', KEYS[4], score, slot_id)
      else
        redis.call('ZREM', KEYS[4], slot_id)
      end
    end
  end
end

-- 2. Take the logged records the caller can deliver whose lease lapsed (their deliverer died or
-- stalled), oldest due first: found first, then leased again, as leasing moves them in the index.
if leasing and budget > 0 and next(deliverable) ~= nil then
  local lapsed = {}
  local gone = {}
  local chunk = 200
  local start = 0
  while budget > 0 do
    local fields = redis.call('ZRANGEBYSCORE', KEYS[9], '-inf', now, 'LIMIT', start, chunk)
    if #fields == 0 then break end
    for _, field in ipairs(fields) do
      if budget <= 0 then break end
      local raw = redis.call('HGET', KEYS[8], field)
      if not raw then
        gone[#gone + 1] = field -- an index entry without its record
      else
        local record = cjson.decode(raw).record
        if deliverable[record.backend] then
          lapsed[#lapsed + 1] = record
          budget = budget - 1
        end
      end
    end
    start = start + chunk
  end
  for _, field in ipairs(gone) do redis.call('ZREM', KEYS[9], field) end
  for _, record in ipairs(lapsed) do
    record.redelivered = true
    local json = cjson.encode(record)
    lease_delivery(json, record.taskId, record.token, owner, now + delivery_lease_ms)
    ended[#ended + 1] = json
  end
end

-- 3. Take outbox entries the caller can deliver, oldest first; the others stay in place.
-- Entries are unique (each occupancy ends once and carries its token), so LREM by value is exact.
if budget > 0 and next(deliverable) ~= nil then
  local taken = {}
  local chunk = 200
  local start = 0
  while budget > 0 do
    local items = redis.call('LRANGE', KEYS[6], start, start + chunk - 1)
    if #items == 0 then break end
    for _, raw in ipairs(items) do
      if budget <= 0 then break end
      local record = cjson.decode(raw)
      if deliverable[record.backend] then
        taken[#taken + 1] = raw
        ended[#ended + 1] = raw
        if leasing then lease_delivery(raw, record.taskId, record.token, owner, now + delivery_lease_ms) end
        budget = budget - 1
      end
    end
    start = start + chunk
  end
  for _, raw in ipairs(taken) do
    redis.call('LREM', KEYS[6], 1, raw)
  end
end

-- 4. Prune tombstones ended at or before now - retentionMs, a bounded number per pass.
if limit > 0 then prune_ends(now - retention_ms, limit) end

-- 5. Give the reaped slots to the acquire queue's waiters, which come before any reservation.
for _, slot_id in ipairs(reaped) do grant_waiter(q, slot_id, now) end

-- 6. Reserve the idle slots of the caller's list that no waiter takes; report the running ones.
local reserved = {}
local running = {}
for _, slot_id in ipairs(slot_ids) do
  local raw = redis.call('HGET', KEYS[1], slot_id)
  local slot
  if raw then
    slot = cjson.decode(raw)
  else
    slot = { status = 'idle', token = 0, owner = cjson.null, leaseUntil = cjson.null, occupancy = cjson.null }
  end
  local granted = slot.status == 'idle' and grant_waiter(q, slot_id, now)
  if granted then
    running[#running + 1] = granted
  elseif slot.status == 'idle' then
    if max_reserve < 0 or #reserved / 2 < max_reserve then
      reserved[#reserved + 1] = slot_id
      reserved[#reserved + 1] = reserve_slot(slot_id, slot, owner, now, now + lease_ms)
    end
  elseif slot.status == 'running' and not is_null(slot.occupancy) then
    running[#running + 1] = cjson.encode(slot.occupancy)
  end
end

-- 7. Tell the schedulers of the name about reaped slots still idle: the caller, at its maxReserve or
-- not serving them, leaves them to the others, which would otherwise wait for their next tick.
if notify then
  for _, slot_id in ipairs(reaped) do
    local raw = redis.call('HGET', KEYS[1], slot_id)
    if raw and cjson.decode(raw).status == 'idle' then
      redis.call('PUBLISH', q.channel, cjson.encode({ type = 'freed', slotId = slot_id }))
    end
  end
end

return { now, expired, ended, reserved, running }
