-- sweep-candidates: the stalled jobs of some queues, as Procrastinate's
-- select_stalled_jobs_by_heartbeat defines them: 'doing' jobs whose worker is gone (worker_id
-- NULL: unregistered or pruned) or has not sent a heartbeat for $2 seconds. Read without locks:
-- each candidate is locked and checked again by sweep-lock.sql before anything changes.
-- Parameters:
--   $1 varchar[]         queue names to sweep
--   $2 double precision  seconds since the last heartbeat after which a worker counts as dead
-- Returns one row per stalled job, oldest first: id bigint (a string in pg).
SELECT jobs.id
FROM procrastinate_jobs AS jobs
WHERE jobs.status = 'doing'
  AND jobs.queue_name = ANY($1::varchar[])
  AND (
    jobs.worker_id IS NULL
    OR NOT EXISTS (
      SELECT 1
      FROM procrastinate_workers AS workers
      WHERE workers.id = jobs.worker_id
        AND workers.last_heartbeat >= now() - make_interval(secs => $2::double precision)
    )
  )
ORDER BY jobs.id;
