-- stalled-retry: Python's stalled-job recipe (JobManager.get_stalled_jobs, then retry_job on each,
-- as upstream's how-to does it), in one statement: the `doing` jobs of queue $1 whose worker is
-- gone (worker_id NULL) or has sent no heartbeat for $2 seconds go back to `todo`, due now,
-- through procrastinate_retry_job_v2 (attempts + 1: the stalled try counts). The rows are locked
-- and the condition is read on them, so that a job finished meanwhile is never requeued.
-- Parameters: $1 varchar queue, $2 double precision seconds since the last heartbeat.
-- Returns one row per job retried: id, the worker that held it, its attempts before the retry.
WITH stalled AS (
  SELECT job.id, job.worker_id, job.attempts
  FROM procrastinate_jobs AS job
  LEFT JOIN procrastinate_workers AS worker ON worker.id = job.worker_id
  WHERE job.status = 'doing'
    AND job.queue_name = $1::varchar
    AND (job.worker_id IS NULL OR worker.id IS NULL
         OR worker.last_heartbeat < now() - make_interval(secs => $2::double precision))
  ORDER BY job.id
  FOR UPDATE OF job SKIP LOCKED
)
SELECT stalled.id, stalled.worker_id, stalled.attempts,
       procrastinate_retry_job_v2(stalled.id, now(), NULL, NULL, NULL) AS retried
FROM stalled
