-- client-defer-job: defers one job through procrastinate_defer_jobs_v1, the statement Python's
-- client sends. The insert trigger writes the 'deferred' event and notifies the job's queue.
-- Parameters:
--   $1 varchar      queue name (at most 40 bytes: the NOTIFY channel must fit in 63)
--   $2 varchar      task name
--   $3 integer      priority (larger runs first)
--   $4 text         lock, or NULL
--   $5 text         queueing lock, or NULL
--   $6 jsonb        args: a JSON object of keyword arguments
--   $7 timestamptz  scheduled_at, or NULL for as soon as possible
-- Returns one row: id bigint (a string in pg). Raises 23505 on
-- procrastinate_jobs_queueing_lock_idx_v1 when a queued job holds the queueing lock.
SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[
  ROW($1::varchar, $2::varchar, $3::integer, $4::text, $5::text, $6::jsonb, $7::timestamptz)
]::procrastinate_job_to_defer_v1[])) AS id;
