-- sweep-lock: locks one candidate of sweep-candidates.sql for the rest of the transaction, if it
-- is still stalled. The conditions are those of sweep-candidates.sql, checked again on the row
-- as it is now: a concurrent sweeper that recovered it first, or a worker that finished or
-- re-claimed it, has changed the row, and PostgreSQL re-evaluates the WHERE on the latest
-- version before locking. SKIP LOCKED: a row another sweeper (or a worker's ownership guard)
-- holds is being dealt with; waiting for it would only find it changed.
-- Parameters:
--   $1 bigint            job id
--   $2 varchar[]         queue names being swept
--   $3 double precision  seconds since the last heartbeat after which a worker counts as dead
-- Returns zero rows (no longer stalled, or locked elsewhere) or one row: id (string), task_name,
-- attempts, queue_name, abort_requested.
SELECT jobs.id, jobs.task_name, jobs.attempts, jobs.queue_name, jobs.abort_requested
FROM procrastinate_jobs AS jobs
WHERE jobs.id = $1::bigint
  AND jobs.status = 'doing'
  AND jobs.queue_name = ANY($2::varchar[])
  AND (
    jobs.worker_id IS NULL
    OR NOT EXISTS (
      SELECT 1
      FROM procrastinate_workers AS workers
      WHERE workers.id = jobs.worker_id
        AND workers.last_heartbeat >= now() - make_interval(secs => $3::double precision)
    )
  )
FOR UPDATE OF jobs SKIP LOCKED;
