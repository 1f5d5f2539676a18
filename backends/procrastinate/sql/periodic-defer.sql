-- periodic-defer: defers one tick of a periodic task through procrastinate_defer_periodic_job_v2,
-- as every Python worker does: the unique (task_name, periodic_id, defer_timestamp) lets one
-- caller per tick defer a job, however many processes run the same schedule.
-- Parameters:
--   $1 varchar  queue name
--   $2 varchar  lock, or NULL
--   $3 varchar  queueing lock, or NULL
--   $4 varchar  task name
--   $5 integer  priority
--   $6 varchar  periodic id ('' unless one task has several schedules)
--   $7 bigint   the tick, in Unix seconds
--   $8 jsonb    args, with "timestamp" set to $7 (Python's convention)
-- Returns one row: id bigint, the new job's id (a string in pg), or NULL when this tick was
-- already deferred. A queueing lock conflict raises 23505 and records nothing.
SELECT procrastinate_defer_periodic_job_v2(
  $1::varchar, $2::varchar, $3::varchar, $4::varchar, $5::integer, $6::varchar, $7::bigint, $8::jsonb
) AS id;
