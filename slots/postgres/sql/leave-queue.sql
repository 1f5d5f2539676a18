-- leave-queue: removes the owner's waiting entry of a task, a wait given up, in one call of
-- task_semaphore_leave_queue_v1 (migrate-007.sql). An entry already gone was granted a slot (its
-- occupancy is returned, for the caller to end) or lapsed.
-- Parameters: $1 text: scheduler name; $2 text: task id; $3 text: owner; $4 regclass: the token
--   sequence (it names the queue lock of the schema).
-- Returns one row: left_queue boolean (a live entry was removed); occupancy jsonb (when not: the
--   Occupancy the owner holds for the task, or null).
SELECT l.left_queue, l.occupancy
FROM __SCHEMA__.task_semaphore_leave_queue_v1($1::text, $2::text, $3::text, $4::regclass) AS l;
