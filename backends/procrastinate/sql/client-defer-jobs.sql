-- client-defer-jobs: defers a batch in one statement through procrastinate_defer_jobs_v1, built
-- from parallel arrays (one per field, element i of each describing job i). All or nothing: one
-- failing row (a queueing lock conflict) rolls the whole batch back.
-- Parameters:
--   $1 varchar[]      queue names
--   $2 varchar[]      task names
--   $3 integer[]      priorities
--   $4 text[]         locks (NULL elements for none)
--   $5 text[]         queueing locks (NULL elements for none)
--   $6 jsonb[]        args, one JSON object per job
--   $7 timestamptz[]  scheduled_at (NULL elements for as soon as possible)
-- Returns one row per job, in input order: id bigint (a string in pg).
-- The function returns ids in the order it received the jobs (Python relies on it too); the
-- ordinality columns make both the array built and the rows returned follow the input order
-- instead of trusting unnest's.
SELECT ids.id
FROM unnest(procrastinate_defer_jobs_v1(ARRAY(
  SELECT ROW(j.queue_name, j.task_name, j.priority, j.lock, j.queueing_lock, j.args, j.scheduled_at)::procrastinate_job_to_defer_v1
  FROM unnest($1::varchar[], $2::varchar[], $3::integer[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[])
    WITH ORDINALITY AS j(queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, n)
  ORDER BY j.n
))) WITH ORDINALITY AS ids(id, n)
ORDER BY ids.n;
