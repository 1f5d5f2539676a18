-- client-cancel-job: cancels a queued job, deletes it, or asks the worker running it to abort,
-- through procrastinate_cancel_job_v1 (see its comment in schema.sql for the exact rules).
-- Parameters:
--   $1 bigint   job id
--   $2 boolean  abort: also flag a running ('doing') job with abort_requested
--   $3 boolean  delete: delete a queued job instead of marking it cancelled
-- Returns one row: id bigint, the job id when something changed, NULL otherwise.
SELECT procrastinate_cancel_job_v1($1::bigint, $2::boolean, $3::boolean) AS id;
