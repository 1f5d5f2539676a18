-- worker-heartbeat: refreshes our worker row's heartbeat. Not procrastinate_update_heartbeat_v1,
-- which silently does nothing when the row is gone: RETURNING tells us it was pruned (our jobs then
-- read worker_id NULL and look stalled), so we can re-register at once.
-- Parameters: $1 bigint our worker id.
-- Returns one row (id) if the worker row exists, none if it was deleted.
UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = $1::bigint RETURNING id
