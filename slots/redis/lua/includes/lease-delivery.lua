-- Shared by the scripts that include it (scripts/build-assets.mjs inlines it).
-- Needs KEYS[8] deliveries and KEYS[9] delivery-due.

-- The delivery log's field of an ended occupancy: "<token>:<taskId>". A token is an integer, so the
-- first colon ends it, whatever the task id holds; acknowledge-2.lua gets fields in this shape.
local function delivery_field(task_id, token)
  return string.format('%d', token) .. ':' .. task_id
end

-- Leases an ended record (its JSON) to owner in the delivery log until due_at, replacing an
-- earlier lease of the same record: no other caller takes it before then, and it stays until
-- acknowledged. The entry wraps the record as it is, so the record is never encoded twice.
local function lease_delivery(record, task_id, token, owner, due_at)
  local field = delivery_field(task_id, token)
  redis.call('HSET', KEYS[8], field, '{"owner":' .. cjson.encode(owner) .. ',"record":' .. record .. '}')
  redis.call('ZADD', KEYS[9], due_at, field)
end

-- Removes delivered records from the delivery log, by field; fields it does not hold are ignored.
local function forget_deliveries(fields)
  for _, field in ipairs(fields) do
    redis.call('HDEL', KEYS[8], field)
    redis.call('ZREM', KEYS[9], field)
  end
end
