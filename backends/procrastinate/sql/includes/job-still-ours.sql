-- CTE `mine`: the job $1, locked, if it is still this run's: doing, claimed by our worker $2 (or by
-- nobody: our worker row was pruned and no one re-claimed the job since), and with the attempts
-- count $3 seen at fetch, which fences off a later run of the same job. No row: not ours.
mine AS (
  SELECT jobs.id, jobs.abort_requested
  FROM procrastinate_jobs AS jobs
  WHERE jobs.id = $1::bigint
    AND jobs.status = 'doing'
    AND jobs.attempts = $3::integer
    AND (jobs.worker_id = $2::bigint OR jobs.worker_id IS NULL)
  FOR UPDATE
)
