-- sweep-fail: ends a stalled job (locked by sweep-lock.sql) as 'failed' through
-- procrastinate_finish_job_v1, with three arguments: attempts + 1, abort_requested cleared, and
-- the trigger writes the 'failed' event. The row is kept (delete_job false).
-- Parameters:
--   $1 bigint  job id
-- Returns one row, no useful column.
SELECT procrastinate_finish_job_v1($1::bigint, 'failed'::procrastinate_job_status, false);
