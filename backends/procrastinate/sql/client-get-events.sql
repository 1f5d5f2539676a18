-- client-get-events: a job's history. Ordered by event id, the order triggers wrote them: `at`
-- would misplace 'scheduled' events, whose `at` is the (future) scheduled time.
-- Parameters:
--   $1 bigint  job id
-- Returns one row per event, oldest first: type (procrastinate_job_event_type as text), at timestamptz.
SELECT type, at
FROM procrastinate_events
WHERE job_id = $1::bigint
ORDER BY id;
