--[[
Sets idle the slots still reserved under the given tokens; any other slot is left alone.

KEYS[1] slots   hash  slotId -> slot record JSON
KEYS[2] expiry  zset  slotId scored by when its current state lapses

ARGV    pairs: slotId1, token1, slotId2, token2, ...

Returns the number of slots set idle (integer).
]]

-- @include free-slot.lua

local released = 0
for i = 1, #ARGV, 2 do
  local slot_id = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], slot_id)
  if raw then
    local slot = cjson.decode(raw)
    if slot.status == 'reserved' and slot.token == tonumber(ARGV[i + 1]) then
      free_slot(KEYS[1], KEYS[2], slot_id, slot)
      released = released + 1
    end
  end
end
return released
