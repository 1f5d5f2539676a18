-- level-probes: what a Procrastinate schema has, to tell its level (there is no migration table).
-- Every name resolves through search_path, like the unqualified calls clients make later, and
-- a missing name yields false, never an error. to_regprocedure() raises on an unknown argument
-- type, hence the CASE guards on the procrastinate types.
-- Parameters: none.
-- Returns one row of booleans, one per probe, grouped by the level that introduced the object:
--   3.0  jobs_table, jobs_abort_requested, cancel_job_v1
--   3.1  workers_table, jobs_worker_id, fetch_job_v2, register_worker_v1
--   3.2  job_to_defer_type, defer_jobs_v1, defer_periodic_job_v2
--   3.3  fetch_job_v2_priority_lock (the lock rule of fetch_job_v2 compares priorities)
--   3.4  retried_event, retry_job_v2
-- and search_path text, the connection's search_path, for messages.
WITH names AS (
  SELECT
    to_regclass('procrastinate_jobs') AS jobs,
    to_regclass('procrastinate_workers') AS workers,
    to_regtype('procrastinate_job_event_type') AS event_type,
    to_regtype('procrastinate_job_to_defer_v1') AS job_to_defer,
    to_regprocedure('procrastinate_fetch_job_v2(character varying[],bigint)') AS fetch_job_v2
),
columns AS (
  SELECT a.attname
  FROM names AS n
  JOIN pg_catalog.pg_attribute AS a ON a.attrelid = n.jobs AND a.attnum > 0 AND NOT a.attisdropped
)
SELECT
  n.jobs IS NOT NULL AS jobs_table,
  EXISTS (SELECT 1 FROM columns WHERE attname = 'abort_requested') AS jobs_abort_requested,
  to_regprocedure('procrastinate_cancel_job_v1(bigint,boolean,boolean)') IS NOT NULL AS cancel_job_v1,

  n.workers IS NOT NULL AS workers_table,
  EXISTS (SELECT 1 FROM columns WHERE attname = 'worker_id') AS jobs_worker_id,
  n.fetch_job_v2 IS NOT NULL AS fetch_job_v2,
  to_regprocedure('procrastinate_register_worker_v1()') IS NOT NULL AS register_worker_v1,

  n.job_to_defer IS NOT NULL AS job_to_defer_type,
  CASE WHEN n.job_to_defer IS NOT NULL
    THEN to_regprocedure('procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[])') IS NOT NULL
    ELSE false
  END AS defer_jobs_v1,
  to_regprocedure(
    'procrastinate_defer_periodic_job_v2(character varying,character varying,character varying,'
    'character varying,integer,character varying,bigint,jsonb)'
  ) IS NOT NULL AS defer_periodic_job_v2,

  -- 3.3 changed only the body of fetch_job_v2: a queued job blocks its lock chain only when it
  -- is ahead by priority, then id. The body names that comparison.
  coalesce(
    strpos(pg_catalog.pg_get_functiondef(n.fetch_job_v2), 'other_jobs.priority') > 0,
    false
  ) AS fetch_job_v2_priority_lock,

  EXISTS (
    SELECT 1 FROM pg_catalog.pg_enum AS e
    WHERE e.enumtypid = n.event_type AND e.enumlabel = 'retried'
  ) AS retried_event,
  to_regprocedure(
    'procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,character varying,character varying)'
  ) IS NOT NULL AS retry_job_v2,

  current_setting('search_path') AS search_path
FROM names AS n;
