-- job-fetch: claims the next job of our queues for our worker, by Procrastinate's own rules
-- (status todo, due, head of its lock chain, priority DESC then id ASC, SKIP LOCKED), in the
-- function every client calls. Named columns, never *: upstream may add columns (PR #1502, #1624).
-- Run in autocommit: the function compares scheduled_at with now(), the transaction's start.
-- Parameters: $1 varchar[] our queue names (never NULL: that would mean every queue),
--             $2 bigint our worker id (never NULL: the job would look stalled at once).
-- Returns one row; every column is NULL when there was nothing to claim.
SELECT id, status, task_name, priority, lock, queueing_lock, args, scheduled_at, queue_name, attempts, worker_id
FROM procrastinate_fetch_job_v2($1::varchar[], $2::bigint)
