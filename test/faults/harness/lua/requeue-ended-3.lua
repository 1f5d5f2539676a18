-- Queues again a task whose occupancy ended without completing it (timeout, lost slot, failed
-- start), fenced by the occupancy's token: a late end of an older occupancy changes nothing.
-- KEYS[1] queue (list), KEYS[2] state (hash), KEYS[3] runners (hash)
-- ARGV[1] task id, ARGV[2] token
-- Returns 1 if queued again, 0 if the task is done or held by another occupancy or claim.
if redis.call('HGET', KEYS[2], ARGV[1]) ~= 'run:' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'queued')
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
