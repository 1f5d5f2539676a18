-- job-fetch-batch: claims up to $3 jobs in one round trip, by calling the fetch function once per
-- row of generate_series. Why this shape:
-- - The call sits in the select list of a MATERIALIZED CTE, so it runs exactly once per row. Written
--   as `generate_series(...) CROSS JOIN LATERAL procrastinate_fetch_job_v2(...)`, the function scan
--   does not depend on the outer row, so PostgreSQL runs it once and repeats its row $3 times.
-- - The function is VOLATILE: each query inside it takes a fresh snapshot and sees the claims of the
--   calls before it in this statement (same transaction, later command id). So the ids are distinct
--   and the lock rule holds within a batch: a lock claimed by call 1 blocks its chain for call 2.
-- Parameters: $1 varchar[] our queue names, $2 bigint our worker id, $3 integer most jobs to claim.
-- Returns the claimed jobs in claim order (priority DESC, id ASC), zero to $3 rows.
WITH claimed AS MATERIALIZED (
  SELECT procrastinate_fetch_job_v2($1::varchar[], $2::bigint) AS job
  FROM generate_series(1, $3::integer)
)
SELECT (claimed.job).id, (claimed.job).status, (claimed.job).task_name, (claimed.job).priority,
       (claimed.job).lock, (claimed.job).queueing_lock, (claimed.job).args, (claimed.job).scheduled_at,
       (claimed.job).queue_name, (claimed.job).attempts, (claimed.job).worker_id
FROM claimed
WHERE (claimed.job).id IS NOT NULL
