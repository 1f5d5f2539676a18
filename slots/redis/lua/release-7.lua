--[[
Sets idle the slots still reserved under the given tokens; any other slot is left alone. Each slot
released goes to the first waiter of the acquire queue that lists it, if any
(includes/grant-waiter.lua), and stays idle otherwise.

KEYS[1] slots      hash   slotId -> slot record JSON
KEYS[2] tasks      hash   taskId -> slotId of its running occupancy
KEYS[3] expiry     zset   slotId scored by when its current state lapses
KEYS[4] token      string fencing-token counter (the one begin-pass and end INCR)
KEYS[5] queue      zset   waiting taskId scored by arrival (includes/waiters.lua)
KEYS[6] queue-due  zset   waiting taskId scored by when its entry lapses
KEYS[7] waiters    hash   waiting taskId -> its request

ARGV[1] events channel: {"type":"granted","taskId":...,"token":...,"slotId":...} is published on
        it for each slot given to a waiter
ARGV[2..] pairs: slotId1, token1, slotId2, token2, ...

Returns the number of reservations released (integer), granted slots included.
]]

-- @include clock.lua
-- @include free-slot.lua
-- @include next-token.lua
-- @include occupy-slot.lua
-- @include waiters.lua
-- @include grant-waiter.lua

local q = {
  slots = KEYS[1], tasks = KEYS[2], expiry = KEYS[3], token = KEYS[4],
  queue = KEYS[5], due = KEYS[6], waiters = KEYS[7], channel = ARGV[1],
}

-- The store's clock, read once, and only for a grant.
local now
local function clock()
  now = now or now_ms()
  return now
end

local released = 0
for i = 2, #ARGV, 2 do
  local slot_id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], slot_id)
  if raw then
    local slot = cjson.decode(raw)
    if slot.status == 'reserved' and slot.token == tonumber(ARGV[i + 1]) then
      -- A grant writes the whole record: the slot is freed only when nobody takes it.
      if queue_empty(q) or not grant_waiter(q, slot_id, clock()) then
        free_slot(KEYS[1], KEYS[3], slot_id, slot)
      end
      released = released + 1
    end
  end
end
return released
