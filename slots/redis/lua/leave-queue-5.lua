--[[
Removes a waiter from the acquire queue (a wait given up): the owner's entry of the task id. When
there is none, says whether a slot was granted to it meanwhile.

KEYS[1] slots      hash  slotId -> slot record JSON
KEYS[2] tasks      hash  taskId -> slotId of its running occupancy
KEYS[3] queue      zset  waiting taskId scored by arrival (includes/waiters.lua)
KEYS[4] queue-due  zset  waiting taskId scored by when its entry lapses
KEYS[5] waiters    hash  waiting taskId -> its request

ARGV[1] taskId
ARGV[2] owner

Returns one of:
  {1}                  left: the entry was there and live
  {0, occupancy JSON}  not there: the task id runs for this owner (a grant), in that occupancy
  {0}                  not there (or lapsed, and now dropped), and no slot holds it for this owner
]]

-- @include clock.lua
-- @include waiters.lua

local q = { queue = KEYS[3], due = KEYS[4], waiters = KEYS[5] }
local task_id, owner = ARGV[1], ARGV[2]
local now = now_ms()

local own = redis.call('HGET', q.waiters, task_id)
if own and cjson.decode(own)[1] == owner then
  local lease_until = tonumber(redis.call('ZSCORE', q.due, task_id))
  drop_waiter(q, task_id)
  if lease_until and lease_until > now then return { 1 } end
end

local slot_id = redis.call('HGET', KEYS[2], task_id)
local raw = slot_id and redis.call('HGET', KEYS[1], slot_id)
local occ = raw and cjson.decode(raw).occupancy
if occ and not is_null(occ) and occ.owner == owner then return { 0, cjson.encode(occ) } end
return { 0 }
