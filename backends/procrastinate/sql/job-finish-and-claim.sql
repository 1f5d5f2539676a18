-- job-finish-and-claim: ends the jobs we ran that finished since the last statement, then claims up
-- to $8 jobs, in one statement and one commit. A claim that refills the slots of finished jobs so
-- never commits before their ends: seen from any session, the jobs `doing` on our queues go from
-- the finished ones to the claimed ones at once, and never outnumber the slots. With empty arrays
-- it only claims; with $8 = 0 it only finishes.
--
-- Finishing, per job: procrastinate_finish_job_v1 ignores ownership, so the guard runs here: the
-- rows are locked, then each is finished by its own call, as a Python worker would. "Ours" means
-- still doing, claimed by us (or by nobody: our worker row was pruned and no one re-claimed the
-- job since), and with the attempts count seen at fetch, which fences off a later run of the same
-- job (a retry bumps attempts). Rows are locked in id order, so two statements never deadlock.
--
-- Claiming: the fetch function is called once per step of a recursive CTE, and the first call that
-- finds nothing ends the batch (on a nearly empty queue a claim of 10 costs 2 calls, not 10
-- searches). Each step calls it in the select list, for the one row the step before left: a call
-- that does not depend on the outer row would run once and repeat its row. The function is
-- VOLATILE: each query inside it takes a fresh snapshot and sees what the calls and finishes before
-- it in this statement did. So the ids are distinct, the lock rule holds within a batch (a lock
-- claimed by call 1 blocks its chain for call 2), and a lock freed by a finish here is free for the
-- claims. The first step reads `finished` to its end (count(*)), so every finish runs first.
--
-- Parameters, one array element per finished job:
--   $1 bigint[] job ids, $2 bigint[] our worker id at the write, $3 integer[] attempts at fetch,
--   $4 procrastinate_job_status[] end statuses, $5 boolean[] delete the job;
-- and for the claim: $6 varchar[] our queue names (never NULL: that would mean every queue),
--   $7 bigint our worker id (never NULL: the job would look stalled at once), $8 integer most jobs.
-- Returns one row per job finished (finished_id set; a job left out is no longer ours, left alone),
-- then one row per job claimed (finished_id NULL), in claim order (priority DESC, id ASC).
WITH RECURSIVE input AS (
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
),
finished AS (
  SELECT mine.id, procrastinate_finish_job_v1(mine.id, mine.status, mine.delete_job) AS done
  FROM mine
),
claims (n, job) AS (
  SELECT 1, procrastinate_fetch_job_v2($6::varchar[], $7::bigint)
  FROM (SELECT count(*) FROM finished) AS finish_first
  WHERE $8::integer >= 1
  UNION ALL
  SELECT claims.n + 1, procrastinate_fetch_job_v2($6::varchar[], $7::bigint)
  FROM claims
  WHERE claims.n < $8::integer AND (claims.job).id IS NOT NULL
)
SELECT 0 AS n, finished.id AS finished_id,
       NULL::bigint AS id, NULL::procrastinate_job_status AS status, NULL::varchar AS task_name,
       NULL::integer AS priority, NULL::text AS lock, NULL::text AS queueing_lock, NULL::jsonb AS args,
       NULL::timestamptz AS scheduled_at, NULL::varchar AS queue_name, NULL::integer AS attempts,
       NULL::bigint AS worker_id
FROM finished
UNION ALL
SELECT claims.n, NULL, (claims.job).id, (claims.job).status, (claims.job).task_name, (claims.job).priority,
       (claims.job).lock, (claims.job).queueing_lock, (claims.job).args, (claims.job).scheduled_at,
       (claims.job).queue_name, (claims.job).attempts, (claims.job).worker_id
FROM claims
WHERE (claims.job).id IS NOT NULL
ORDER BY n
