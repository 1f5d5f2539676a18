-- client-get-job: one job's row. Named columns, never *: upstream proposals add columns
-- (result, deferred_at) that this library does not know.
-- Parameters:
--   $1 bigint  job id
-- Returns zero or one row: id (string), queue_name, task_name, priority, lock, queueing_lock,
-- args (parsed JSON), status, scheduled_at, attempts, abort_requested, worker_id (string or NULL).
SELECT id, queue_name, task_name, priority, lock, queueing_lock, args, status,
       scheduled_at, attempts, abort_requested, worker_id
FROM procrastinate_jobs
WHERE id = $1::bigint;
