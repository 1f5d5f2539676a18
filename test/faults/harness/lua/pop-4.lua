-- Claims the next queued task for a process: its state becomes 'claimed:<pid>', and the claim is
-- listed so that a sweep can give it back should the process die before starting it.
-- Handed-back tasks whose delay has passed join the queue first.
-- KEYS[1] queue (list), KEYS[2] delayed (zset: task id -> due ms, by this server's clock),
-- KEYS[3] state (hash), KEYS[4] claims (hash: task id -> pid)
-- ARGV[1] pid of the claiming process
-- Returns the task id, or false when nothing is queued. A queue entry whose task is not in state
-- 'queued' cannot happen (each transition to 'queued' pushes once); it would be skipped and
-- counted in the state hash under the field '!anomalies'.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('RPUSH', KEYS[1], id)
end
while true do
  local id = redis.call('LPOP', KEYS[1])
  if not id then return false end
  if redis.call('HGET', KEYS[3], id) == 'queued' then
    redis.call('HSET', KEYS[3], id, 'claimed:' .. ARGV[1])
    redis.call('HSET', KEYS[4], id, ARGV[1])
    return id
  end
  redis.call('HINCRBY', KEYS[3], '!anomalies', 1)
end
