-- sweep-retry: puts a stalled job (locked by sweep-lock.sql) back to 'todo' through
-- procrastinate_retry_job_v2, as Python's retry_job does: attempts + 1, scheduled_at = $2, and
-- the trigger writes 'deferred_for_retry' (plus 'scheduled' when $2 is not NULL). Priority,
-- queue and lock are kept. No NOTIFY: workers find it on their next poll.
-- Parameters:
--   $1 bigint       job id
--   $2 timestamptz  when it may run again
-- Returns one row, no useful column. Raises 23505 on procrastinate_jobs_queueing_lock_idx_v1
-- when another queued job holds its queueing lock (upstream issue #1446).
SELECT procrastinate_retry_job_v2($1::bigint, $2::timestamptz, NULL, NULL, NULL);
