-- doing-rows: the jobs of queue $1 that the table shows `doing`, as Procrastinate's admin and
-- Python tools count them, with the worker each is claimed by.
-- Parameters: $1 varchar queue. Returns id, worker_id.
SELECT id, worker_id FROM procrastinate_jobs WHERE status = 'doing' AND queue_name = $1::varchar
