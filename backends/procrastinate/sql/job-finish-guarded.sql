-- job-finish-guarded: ends a job we run as succeeded, failed or aborted (or deletes it), only if it
-- is still ours. procrastinate_finish_job_v1 ignores ownership, so the guard runs in the same
-- statement: the row is locked, then finished. "Ours" means still doing, claimed by us (or by
-- nobody: our worker row was pruned and no one re-claimed the job since), and with the attempts
-- count seen at fetch, which fences off a later run of the same job (a retry bumps attempts).
-- Parameters: $1 bigint job id, $2 bigint our worker id, $3 integer attempts at fetch,
--             $4 procrastinate_job_status end status, $5 boolean delete the job.
-- Returns one row when the job was finished, none when it is no longer ours (left alone).
WITH mine AS (
  SELECT jobs.id
  FROM procrastinate_jobs AS jobs
  WHERE jobs.id = $1::bigint
    AND jobs.status = 'doing'
    AND jobs.attempts = $3::integer
    AND (jobs.worker_id = $2::bigint OR jobs.worker_id IS NULL)
  FOR UPDATE
)
SELECT procrastinate_finish_job_v1(mine.id, $4::procrastinate_job_status, $5::boolean) AS finished
FROM mine
