-- job-fetch-batch: claims up to $3 jobs in one round trip, by calling the fetch function once per
-- step of a recursive CTE, and stopping at the first call that finds nothing. Why this shape:
-- - Each step calls the function once, in the select list, for the one row the step before left.
--   (A call in `generate_series(...) CROSS JOIN LATERAL procrastinate_fetch_job_v2(...)` does not
--   depend on the outer row, so PostgreSQL would run it once and repeat its row.)
-- - The function is VOLATILE: each query inside it takes a fresh snapshot and sees the claims of the
--   calls before it in this statement (same transaction, later command id). So the ids are distinct
--   and the lock rule holds within a batch: a lock claimed by call 1 blocks its chain for call 2.
-- - A call that finds nothing ends the batch: on a nearly empty queue (the common case of a worker
--   waiting for work) a batch of 10 costs 2 calls, not 10 full searches.
-- Parameters: $1 varchar[] our queue names, $2 bigint our worker id, $3 integer most jobs to claim.
-- Returns the claimed jobs in claim order (priority DESC, id ASC), zero to $3 rows.
WITH RECURSIVE claims (n, job) AS (
  SELECT 1, procrastinate_fetch_job_v2($1::varchar[], $2::bigint)
  WHERE $3::integer >= 1
  UNION ALL
  SELECT claims.n + 1, procrastinate_fetch_job_v2($1::varchar[], $2::bigint)
  FROM claims
  WHERE claims.n < $3::integer AND (claims.job).id IS NOT NULL
)
SELECT (claims.job).id, (claims.job).status, (claims.job).task_name, (claims.job).priority,
       (claims.job).lock, (claims.job).queueing_lock, (claims.job).args, (claims.job).scheduled_at,
       (claims.job).queue_name, (claims.job).attempts, (claims.job).worker_id
FROM claims
WHERE (claims.job).id IS NOT NULL
ORDER BY claims.n
