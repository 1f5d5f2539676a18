-- jobs-final: every job of queue $1 with its history, and the database's clock (epoch ms).
-- Parameters: $1 varchar queue. Returns id, task_name, status, attempts, worker_id, scheduled_at
-- and now_ms (epoch ms, floats), events (event types, oldest first).
SELECT job.id, job.task_name, job.status::text AS status, job.attempts, job.worker_id,
       extract(epoch FROM job.scheduled_at) * 1000 AS scheduled_at,
       extract(epoch FROM now()) * 1000 AS now_ms,
       ARRAY(SELECT event.type::text FROM procrastinate_events AS event WHERE event.job_id = job.id ORDER BY event.id) AS events
FROM procrastinate_jobs AS job
WHERE job.queue_name = $1::varchar
ORDER BY job.id
