-- job-abort-requests: which of the jobs running here have an abort request (the poll behind the
-- NOTIFY, which is lost while the LISTEN connection is down). Filtered by our running job ids
-- rather than by worker_id, so it also finds our jobs while worker_id is NULL (our worker row was
-- pruned and not yet re-registered); the primary key serves it.
-- Parameters: $1 bigint[] ids of the jobs running here.
-- Returns the ids (int8, as strings in pg) of those with abort_requested.
SELECT id
FROM procrastinate_jobs
WHERE id = ANY ($1::bigint[]) AND status = 'doing' AND abort_requested
