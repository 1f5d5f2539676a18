-- job-hand-back: puts a job we claimed and never started back in the queue, due after $4 seconds
-- (database clock; 0 keeps its scheduled_at), only if it is still ours (includes/job-still-ours.sql,
-- as job-retry-guarded.sql). Unlike procrastinate_retry_job_v2 it leaves `attempts` alone: the job
-- did not run, so a job handed back many times still counts only its real runs. Procrastinate's
-- status trigger records doing -> todo as `deferred_for_retry` (and a due time as `scheduled`), so
-- Python tools see an ordinary queued job. worker_id is kept, as retry_job_v2 keeps it.
-- A job whose abort was requested since the claim cannot go back to todo (the table's CHECK
-- forbids a todo row with abort_requested): it is finished `aborted` instead, as a worker that
-- found the request before starting it would.
-- Can raise 23505 when another queued job holds the same queueing lock (upstream #1446); the
-- statement then changes nothing.
-- Parameters: $1 bigint job id, $2 bigint our worker id, $3 integer attempts at fetch,
--             $4 double precision seconds until it is due again.
-- Returns one row (outcome: 'requeued' or 'aborted') when written, none when no longer ours.
WITH
-- @include job-still-ours.sql
, requeued AS (
  UPDATE procrastinate_jobs AS jobs
  SET status = 'todo',
      scheduled_at = CASE WHEN $4::double precision > 0
                          THEN now() + $4::double precision * interval '1 second'
                          ELSE jobs.scheduled_at END
  FROM mine
  WHERE jobs.id = mine.id AND NOT mine.abort_requested
  RETURNING jobs.id
),
aborted AS (
  SELECT procrastinate_finish_job_v1(mine.id, 'aborted', false) AS done
  FROM mine
  WHERE mine.abort_requested
)
SELECT 'requeued' AS outcome FROM requeued
UNION ALL
SELECT 'aborted' FROM aborted
