-- Records that a running task honoured a cancel, fenced by its token: it ends here, accounted for,
-- never queued again (every requeue and hand-back needs another state) and never completed.
-- KEYS[1] state (hash), KEYS[2] runners (hash), KEYS[3] cancelled (counter)
-- ARGV[1] task id, ARGV[2] token
-- Returns 1 if recorded, 0 if another occupancy holds the task, or it is done or queued again.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'run:' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'cancelled')
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('INCR', KEYS[3])
return 1
