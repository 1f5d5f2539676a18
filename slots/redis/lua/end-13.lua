--[[
Ends running occupancies (stop, start failure, backend removal), one end request after the other
in the order given: each gives its slot to the first waiter of the acquire queue that lists it
(includes/grant-waiter.lua), else keeps it reserved for the caller under a fresh token when
asked, else frees it; keeps a tombstone of the task, and queues the ended record in the outbox
when the caller cannot deliver its backend's callbacks, or, when it can and asks for a delivery
lease, leases the record to it in the delivery log. One request or many, so that tasks finishing
together cost one round trip.

KEYS[1] slots     hash   slotId -> slot record JSON
KEYS[2] tasks     hash   taskId -> slotId of its running occupancy
KEYS[3] ended     hash   taskId -> ends kept of its occupancies (includes/tombstones.lua)
KEYS[4] expiry    zset   slotId scored by when its current state lapses
KEYS[5] ended-at  zset   taskId scored by its oldest end kept
KEYS[6] outbox    list   ended-occupancy JSON, oldest first
KEYS[7] token     string fencing-token counter (the one begin-pass INCRs)
KEYS[8] deliveries     hash  "<token>:<taskId>" -> {"owner":..., "record": ended-occupancy}
KEYS[9] delivery-due   zset  the same fields, scored by when their lease lapses
KEYS[10] history       stream one entry per ended occupancy (includes/end-occupancy.lua)
KEYS[11] queue         zset  waiting taskId scored by arrival (includes/waiters.lua)
KEYS[12] queue-due     zset  waiting taskId scored by when its entry lapses
KEYS[13] waiters       hash  waiting taskId -> its request

ARGV[1] JSON array of requests, each {taskId, token?, reason, status, error, deliverable: [backend...],
        notify, reserve: {owner, leaseMs} or null, delivery: {owner, leaseMs} or null} (status
        and error are strings or null, acknowledge: ["<token>:<taskId>", ...] or absent, next:
        {taskId, backend, timeoutMs, maxRuntimeMs, processLease} or absent, only with reserve). With
        delivery, a delivered record is leased to its owner until now + leaseMs in the delivery
        log; the fields of acknowledge leave the log first, whether or not the end acts.
ARGV[2] outboxLimit
ARGV[3] events channel: {"type":"granted","taskId":...,"token":...,"slotId":...} is published
        on it for each slot given to a waiter, and {"type":"freed","slotId":...} for each request
        with notify and no reserve that ends an occupancy and leaves its slot idle
ARGV[4] history max entries (about how many the stream keeps); 0 (or absent) for no history
ARGV[5] retention ms of the ends kept (begin-pass-13's ARGV[5]): up to twice as many tombstones
        ended before now - retention as there are requests are pruned, so that they cannot pile
        up faster than the passes, a bounded number each, prune them; -1 (or absent) for none

Returns one reply per request, in order, each one of:
  {0, ended-occupancy JSON, delivered}         ended, slot idle or granted to a waiter;
                                               delivered is 1 (leased to delivery.owner when
                                               given), or 0 when queued in the outbox
  {0, ended-occupancy JSON, delivered, token}  ended with reserve and no waiter took the slot:
                                               it is reserved by reserve.owner under token
                                               until now + leaseMs
  {0, ended-occupancy JSON, delivered, token, start reply}
                                               the same with next: the start reply is start-3's
                                               for that reservation, {0, occupancy JSON} (the
                                               slot runs next under token) or {-5, slotId,
                                               expiresAt, now} (a duplicate: the slot stays
                                               reserved)
  {-1}                                         unknown
  {-3, slotId, token, endReason}               timed_out
  {-4, slotId, token, endReason}               ended
Raises an error, having changed nothing, when a request lacks taskId, reason or deliverable, or
has a reserve or delivery without owner or a finite leaseMs.
]]

-- @include clock.lua
-- @include tombstones.lua
-- @include resolve.lua
-- @include free-slot.lua
-- @include end-occupancy.lua
-- @include next-token.lua
-- @include reserve-slot.lua
-- @include lease-delivery.lua
-- @include occupy-slot.lua
-- @include waiters.lua
-- @include grant-waiter.lua

local q = {
  slots = KEYS[1], tasks = KEYS[2], expiry = KEYS[4], token = KEYS[7],
  queue = KEYS[11], due = KEYS[12], waiters = KEYS[13], channel = ARGV[3],
}

local function end_task(req, now, outbox_limit, history_max)
  if type(req.acknowledge) == 'table' then forget_deliveries(req.acknowledge) end
  local slot_id, slot = resolve(req.taskId, not is_null(req.token) and req.token or nil, now)
  if not slot_id then return slot end

  local occ = slot.occupancy
  local reason = req.reason
  -- A stop after a cancel request, or reported as cancelled, ends as 'cancelled'.
  if reason == 'stopped' and (occ.cancelRequested == true or req.status == 'cancelled') then
    reason = 'cancelled'
  end

  local delivered = false
  for _, backend in ipairs(req.deliverable) do
    if backend == occ.backend then delivered = true end
  end
  -- The slot record is written once, below: granted, reserved or freed.
  local record = end_occupancy(slot_id, slot, reason, is_null(req.status) and cjson.null or req.status,
    is_null(req.error) and cjson.null or req.error, now, delivered, outbox_limit, history_max, true)
  if delivered and not is_null(req.delivery) then
    lease_delivery(record, occ.taskId, occ.token, req.delivery.owner, now + req.delivery.leaseMs)
  end
  -- A waiter comes before the caller's refill: granted, the slot is neither kept nor free.
  if grant_waiter(q, slot_id, now) then return { 0, record, delivered and 1 or 0 } end
  if not is_null(req.reserve) then
    -- Kept for the caller, so not free: nothing is published, whatever notify says.
    local nxt = req.next
    if nxt == nil or is_null(nxt) then
      return { 0, record, delivered and 1 or 0, reserve_slot(slot_id, slot, req.reserve.owner, now, now + req.reserve.leaseMs) }
    end
    -- The next task starts as start-3 would on the reservation: refused when it holds a slot.
    local holder, _, expires_at = holder_of(q, nxt.taskId, now)
    if holder then
      local token = reserve_slot(slot_id, slot, req.reserve.owner, now, now + req.reserve.leaseMs)
      return { 0, record, delivered and 1 or 0, token, { -5, holder, expires_at, now } }
    end
    -- Reserved and started at once: the slot record is written once, running.
    local token = next_token(KEYS[7])
    return { 0, record, delivered and 1 or 0, token, { 0, occupy_slot(q, slot_id, {
      token = token, owner = req.reserve.owner, reservedAt = now, processLease = nxt.processLease == true,
      taskId = nxt.taskId, backend = nxt.backend, timeoutMs = nxt.timeoutMs, maxRuntimeMs = nxt.maxRuntimeMs,
    }, now) } }
  end
  free_slot(KEYS[1], KEYS[4], slot_id, slot)
  if req.notify == true then
    redis.call('PUBLISH', ARGV[3], cjson.encode({ type = 'freed', slotId = slot_id }))
  end
  return { 0, record, delivered and 1 or 0 }
end

local function finite(n)
  return type(n) == 'number' and n == n and n ~= math.huge and n ~= -math.huge
end

-- A lease ({owner, leaseMs}) is absent, or has a string owner and a finite leaseMs.
local function valid_lease(lease)
  if is_null(lease) then return true end
  return type(lease.owner) == 'string' and finite(lease.leaseMs)
end

-- A next start is absent, or comes with a reserve and has what start-3 checks.
local function valid_next(req)
  local n = req.next
  if n == nil or is_null(n) then return true end
  return not is_null(req.reserve) and type(n.taskId) == 'string' and type(n.backend) == 'string'
    and finite(n.timeoutMs) and (is_null(n.maxRuntimeMs) or finite(n.maxRuntimeMs))
end

-- A script that fails half way keeps what it wrote, so every request is checked before any acts.
local requests = cjson.decode(ARGV[1])
for i, req in ipairs(requests) do
  if type(req.taskId) ~= 'string' or type(req.reason) ~= 'string' or type(req.deliverable) ~= 'table'
    or not valid_lease(req.reserve) or not valid_lease(req.delivery) or not valid_next(req) then
    error('end-13: request ' .. i .. ' is malformed: ' .. cjson.encode(req))
  end
end

local now = now_ms()
local outbox_limit = tonumber(ARGV[2])
local history_max = tonumber(ARGV[4] or '0')
local replies = {}
for i, req in ipairs(requests) do
  replies[i] = end_task(req, now, outbox_limit, history_max)
end
local retention_ms = tonumber(ARGV[5] or '-1')
if retention_ms >= 0 then prune_ends(now - retention_ms, 2 * #requests) end
return replies
