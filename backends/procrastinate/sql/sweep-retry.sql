-- sweep-retry: puts a stalled job (locked by sweep-lock.sql) back to 'todo' through
-- procrastinate_retry_job_v2, as Python's retry_job does: attempts + 1, scheduled_at = the due
-- time, and the trigger writes 'deferred_for_retry' (plus 'scheduled'). Priority, queue and lock
-- are kept. No NOTIFY: workers find it on their next poll. A delay counts from the database's
-- clock, the one fetch_job compares scheduled_at with: a sweeper whose own clock is off cannot
-- move the retry.
-- Parameters:
--   $1 bigint            job id
--   $2 timestamptz       when it may run again, or NULL to use $3
--   $3 double precision  seconds after now() (database clock) when it may run again, if $2 is NULL
-- Returns one row: retry_at timestamptz, the due time written. Raises 23505 on
-- procrastinate_jobs_queueing_lock_idx_v1 when another queued job holds its queueing lock
-- (upstream issue #1446).
WITH due AS (
  SELECT coalesce($2::timestamptz, now() + $3::double precision * interval '1 second') AS retry_at
)
SELECT due.retry_at, procrastinate_retry_job_v2($1::bigint, due.retry_at, NULL, NULL, NULL) AS done
FROM due;
