-- job-retry-guarded: puts a job we run back in the queue at now() + $4 seconds (database clock),
-- through procrastinate_retry_job_v2 as Python does, only if it is still ours (the guard of
-- includes/job-still-ours.sql). A job with an abort request is not requeued by the function: it
-- becomes failed, never retried; `flagged` tells the caller. Can raise 23505 when another queued
-- job holds the same queueing lock (upstream #1446); the statement then changes nothing.
-- Parameters: $1 bigint job id, $2 bigint our worker id, $3 integer attempts at fetch,
--             $4 double precision seconds to wait.
-- Returns one row (flagged boolean) when written, none when the job is no longer ours.
WITH
-- @include job-still-ours.sql
SELECT mine.abort_requested AS flagged,
       procrastinate_retry_job_v2(mine.id, now() + $4::double precision * interval '1 second', NULL, NULL, NULL) AS retried
FROM mine
