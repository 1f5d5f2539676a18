--[[
Removes everything kept for one scheduler name, atomically: its thirteen keys (the acquire
queue's waiters too), and nothing else (the name's keys are known, so nothing is scanned).
Refuses, changing nothing, while a slot is running (overdue or not: its end was never delivered)
or reserved under a lease that has not lapsed, unless forced. The token counter goes too: the
next reservation seeds it from the clock (see includes/next-token.lua), so tokens keep growing
past those handed out before.

KEYS[1] slots     hash   slotId -> slot record JSON
KEYS[2] tasks     hash   taskId -> slotId of its running occupancy
KEYS[3] ended     hash   taskId -> ends kept of its occupancies
KEYS[4] expiry    zset   slotId scored by when its current state lapses
KEYS[5] ended-at  zset   taskId scored by its oldest end kept
KEYS[6] outbox    list   ended-occupancy JSON
KEYS[7] token     string fencing-token counter
KEYS[8] deliveries     hash  the delivery log
KEYS[9] delivery-due   zset  its due times
KEYS[10] history       stream the history
KEYS[11] queue         zset  the acquire queue (includes/waiters.lua)
KEYS[12] queue-due     zset  when its entries lapse
KEYS[13] waiters       hash  the waiting requests

ARGV[1] '1' to purge even while slots are running or reserved, else '0'

Returns one of:
  {1, slots, {taskId1, token1, taskId2, token2, ...}}
      purged: how many slots were removed, and the running occupancies removed with them
  {0, {taskId1, token1, slotId1, owner1, ...}, {slotId1, owner1, ...}}
      refused: the running occupancies, then the slots reserved under a live lease
]]

-- @include clock.lua

local now = now_ms()
local force = ARGV[1] == '1'
-- Flat, as the replies carry them: the running occupancies (and those purged with them), the reserved slots.
local running, dropped, held = {}, {}, {}
local flat = redis.call('HGETALL', KEYS[1])
for i = 1, #flat, 2 do
  local slot = cjson.decode(flat[i + 1])
  local occ = slot.occupancy
  if slot.status == 'running' and not is_null(occ) then
    for _, v in ipairs({ occ.taskId, occ.token, flat[i], occ.owner }) do running[#running + 1] = v end
    dropped[#dropped + 1] = occ.taskId
    dropped[#dropped + 1] = occ.token
  elseif slot.status == 'reserved' and not is_null(slot.leaseUntil) and slot.leaseUntil > now then
    held[#held + 1] = flat[i]
    held[#held + 1] = slot.owner
  end
end

if not force and (#running > 0 or #held > 0) then return { 0, running, held } end
redis.call('DEL', unpack(KEYS))
return { 1, #flat / 2, dropped }
