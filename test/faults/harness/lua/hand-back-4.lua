-- Gives a claimed task back to the queue, if it is still claimed by that process: a rejected
-- start, an abandoned poll, or the sweep of a dead process's claims.
-- KEYS[1] queue (list), KEYS[2] delayed (zset), KEYS[3] state (hash), KEYS[4] claims (hash)
-- ARGV[1] task id, ARGV[2] pid of the claimer, ARGV[3] delay in ms before it may be claimed again
-- Returns 1 if handed back, 0 if the task was not claimed by that process (left as it is).
if redis.call('HGET', KEYS[3], ARGV[1]) ~= 'claimed:' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], 'queued')
redis.call('HDEL', KEYS[4], ARGV[1])
local delay = tonumber(ARGV[3])
if delay > 0 then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  redis.call('ZADD', KEYS[2], now + delay, ARGV[1])
else
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return 1
