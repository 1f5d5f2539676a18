-- A started task takes over its claim: its state becomes 'run:<token>', the fencing token of its
-- occupancy, which fences its completion and its requeue; its process is listed as its runner.
-- KEYS[1] state (hash), KEYS[2] claims (hash), KEYS[3] runners (hash: task id -> pid)
-- ARGV[1] task id, ARGV[2] pid of the claimer, ARGV[3] token
-- Returns 1, or 0 if the task is not claimed by that process (it must then not run).
if redis.call('HGET', KEYS[1], ARGV[1]) ~= 'claimed:' .. ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'run:' .. ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
