-- Queues again a task whose runner process died (whatever its token): nothing else may, should
-- the store have lost the occupancy. Safe while the occupancy still holds the task in the store:
-- a start of the task elsewhere is refused as a duplicate until it ends there.
-- KEYS[1] queue (list), KEYS[2] state (hash), KEYS[3] runners (hash)
-- ARGV[1] task id, ARGV[2] pid of the dead runner
-- Returns 1 if queued again, 0 if that process no longer runs the task.
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
if string.sub(redis.call('HGET', KEYS[2], ARGV[1]) or '', 1, 4) ~= 'run:' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], 'queued')
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
