-- job-finish-guarded: ends jobs we run as succeeded, failed or aborted (or deletes them), each only
-- if it is still ours; one statement for one job or for several that finished at about the same
-- time. procrastinate_finish_job_v1 ignores ownership, so the guard runs in the same statement:
-- the rows are locked, then each is finished by its own call, as a Python worker would. "Ours"
-- means still doing, claimed by us (or by nobody: our worker row was pruned and no one re-claimed
-- the job since), and with the attempts count seen at fetch, which fences off a later run of the
-- same job (a retry bumps attempts). Rows are locked in id order, so two statements never deadlock.
-- Parameters, one array element per job:
--   $1 bigint[] job ids, $2 bigint[] our worker id at the write, $3 integer[] attempts at fetch,
--   $4 procrastinate_job_status[] end statuses, $5 boolean[] delete the job.
-- Returns one row (id) per job finished; a job left out is no longer ours (left alone).
WITH input AS (
  SELECT *
  FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::procrastinate_job_status[], $5::boolean[])
    AS i (id, worker_id, attempts, status, delete_job)
),
mine AS (
  SELECT jobs.id, input.status, input.delete_job
  FROM procrastinate_jobs AS jobs
  JOIN input ON input.id = jobs.id
  WHERE jobs.status = 'doing'
    AND jobs.attempts = input.attempts
    AND (jobs.worker_id = input.worker_id OR jobs.worker_id IS NULL)
  ORDER BY jobs.id
  FOR UPDATE OF jobs
)
SELECT mine.id, procrastinate_finish_job_v1(mine.id, mine.status, mine.delete_job) AS finished
FROM mine
