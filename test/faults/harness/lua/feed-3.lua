-- Adds new task ids to the source: each queued, at the tail of the queue.
-- KEYS[1] queue (list), KEYS[2] state (hash: task id -> state), KEYS[3] fed (counter)
-- ARGV    the task ids
-- Returns how many ids were added (an id the source already has is left as it is).
local added = 0
for _, id in ipairs(ARGV) do
  if redis.call('HSETNX', KEYS[2], id, 'queued') == 1 then
    redis.call('RPUSH', KEYS[1], id)
    added = added + 1
  end
end
redis.call('INCRBY', KEYS[3], added)
return added
