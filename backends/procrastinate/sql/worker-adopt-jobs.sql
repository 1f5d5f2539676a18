-- worker-adopt-jobs: after re-registering, gives our new worker id back to the jobs we still run.
-- Pruning our old row set their worker_id to NULL (ON DELETE SET NULL); a job someone retried or
-- re-claimed meanwhile is no longer doing-with-NULL and is left alone.
-- Parameters: $1 bigint our new worker id, $2 bigint[] ids of the jobs running here.
-- Returns the ids adopted.
UPDATE procrastinate_jobs
SET worker_id = $1::bigint
WHERE id = ANY ($2::bigint[]) AND status = 'doing' AND worker_id IS NULL
RETURNING id
