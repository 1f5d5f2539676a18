--[[
Takes a slot for a task the caller already holds, in one step, first come first served: the
first idle slot of the request (in its order) that no earlier live waiter takes, reserved and
started at once under a fresh fencing token. Each idle slot met goes to the acquire queue's
waiters first (includes/grant-waiter.lua), this request's own entry among them, in its place.
Failing that, with a wait lease, the request waits in the queue (a renewal keeps its place; an
entry that lapsed queues anew at the end); else the answer is busy.

KEYS[1] slots      hash   slotId -> slot record JSON
KEYS[2] tasks      hash   taskId -> slotId of its running occupancy
KEYS[3] expiry     zset   slotId scored by when its current state lapses
KEYS[4] token      string fencing-token counter (the one begin-pass and end INCR)
KEYS[5] queue      zset   waiting taskId scored by arrival (includes/waiters.lua)
KEYS[6] queue-due  zset   waiting taskId scored by when its entry lapses
KEYS[7] waiters    hash   waiting taskId -> its request

ARGV[1] taskId
ARGV[2] owner (scheduler instance id): the occupancy's and the waiter's
ARGV[3] backend
ARGV[4] processLease: '1' when the timeouts are the process lease of a task run in the caller's
        process, else '0' (as in start-3.lua)
ARGV[5] wait lease ms, or '' not to wait
ARGV[6] events channel: {"type":"granted","taskId":...,"token":...,"slotId":...} is published
        on it for each slot given to a waiter
ARGV[7..] the slots, 3 per slot, in order of preference: slotId, timeoutMs, maxRuntimeMs or ''
        for no runtime cap

Returns one of:
  {0, occupancy JSON}           the task holds a slot: taken now, or granted to this owner
                                while it waited
  {-5, slotId, expiresAt, now}  duplicate: the task id runs in slotId for another owner (or has
                                lapsed there), or, slotId nil, waits in another owner's entry;
                                expiresAt is when that occupancy or entry lapses
  {-7, position, now}           queued: position 1 is next among the live waiters
  {-8, now}                     busy
Raises an error, having changed nothing, when the slots are not groups of 3 (at least one) or a
timeoutMs, maxRuntimeMs or wait lease is not a finite number.
]]

-- @include clock.lua
-- @include finite-arg.lua
-- @include next-token.lua
-- @include occupy-slot.lua
-- @include waiters.lua
-- @include grant-waiter.lua

local q = {
  slots = KEYS[1], tasks = KEYS[2], expiry = KEYS[3], token = KEYS[4],
  queue = KEYS[5], due = KEYS[6], waiters = KEYS[7], channel = ARGV[6],
}

-- Checked before anything is written: a script that fails half way keeps what it wrote.
if #ARGV < 9 or (#ARGV - 6) % 3 ~= 0 then
  error('acquire-7: expected 6 ARGV and 3 per slot, at least one slot, got ' .. #ARGV)
end
local task_id, owner = ARGV[1], ARGV[2]
local wait_ms = ARGV[5] ~= '' and finite_arg('acquire-7', 5) or nil
-- The request in a waiter's shape (includes/waiters.lua), as it is queued.
local request = { owner, ARGV[3], ARGV[4] == '1' }
for i = 7, #ARGV, 3 do
  request[#request + 1] = ARGV[i]
  request[#request + 1] = finite_arg('acquire-7', i + 1)
  request[#request + 1] = ARGV[i + 2] ~= '' and finite_arg('acquire-7', i + 2) or cjson.null
end

local now = now_ms()

-- A task id that holds a slot: its owner gets the occupancy (a grant it may not have heard of)
-- while it has not lapsed; anyone else, a duplicate.
local function held()
  local slot_id, occ, expires_at = holder_of(q, task_id, now)
  if not slot_id then return nil end
  if occ and occ.owner == owner and not expiry_reason(occ, now) then return { 0, cjson.encode(occ) } end
  return { -5, slot_id, expires_at, now }
end

local reply = held()
if reply then return reply end

-- This task id's entry in the queue, whoever queued it, and until when it is live.
local own = redis.call('HGET', q.waiters, task_id)
local own_owner = own and cjson.decode(own)[1]
local own_until = own and tonumber(redis.call('ZSCORE', q.due, task_id))
local own_live = own_until and own_until > now
if own_live and own_owner ~= owner then return { -5, false, own_until, now } end

-- Whether a slot record is idle. A running one is told by its text, undecoded: most slots an
-- acquire passes are running, and decoding their records was most of its cost. Every script
-- writes "status":"running" into a running record, and no other field of a record has that key.
local function idle(raw)
  if not raw or string.find(raw, '"status":"running"', 1, true) then return false end
  return cjson.decode(raw).status == 'idle'
end

for i = 4, #request - 2, 3 do
  local slot_id = request[i]
  if idle(redis.call('HGET', q.slots, slot_id)) then
    if not grant_waiter(q, slot_id, now) then
      if own then drop_waiter(q, task_id) end
      return { 0, (take_slot(q, slot_id, task_id, request, i, now)) }
    end
    reply = held() -- granted to this request's own entry, in its place
    if reply then return reply end
  end
end

if not wait_ms then return { -8, now } end
drop_lapsed(q, now)
local lease_until = now + wait_ms
if own_live and redis.call('ZSCORE', q.queue, task_id) then
  redis.call('ZADD', q.due, lease_until, task_id)
else
  drop_waiter(q, task_id)
  enqueue_waiter(q, task_id, cjson.encode(request), lease_until)
end
-- Every entry left is live: those before this one are the waiters ahead of it.
local position = redis.call('ZRANK', q.queue, task_id) + (lease_until > now and 1 or 0)
return { -7, position, now }
