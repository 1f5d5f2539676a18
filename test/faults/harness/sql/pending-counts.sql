-- pending-counts: how many jobs of queue $1 wait, due now (`todo` with no schedule or one past),
-- and how many are `doing`: the feeder tops up the first, the drain waits for both to be zero.
-- Parameters: $1 varchar queue. Returns due, doing (integers).
SELECT count(*) FILTER (WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now()))::int AS due,
       count(*) FILTER (WHERE status = 'doing')::int AS doing
FROM procrastinate_jobs
WHERE queue_name = $1::varchar
