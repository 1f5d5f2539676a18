-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).

-- The next fencing token, from the counter at token_key (every script of a name passes the same
-- one). A counter that was missing (a new scheduler name, or a Redis that lost its keys: restarted
-- without persistence, flushed, failed over to an empty replica) starts from the clock, in tenths
-- of a millisecond, not from 1: tokens keep growing past those handed out before the loss, as
-- long as the name took fewer than 10 a millisecond on average. They stay under 10^14, which
-- cjson encodes exactly (it writes 14 significant digits).
local function next_token(token_key)
  local token = redis.call('INCR', token_key)
  if token ~= 1 then return token end
  local t = redis.call('TIME')
  local seed = t[1] .. string.format('%04d', math.floor(tonumber(t[2]) / 100))
  redis.call('SET', token_key, seed)
  return tonumber(seed)
end
