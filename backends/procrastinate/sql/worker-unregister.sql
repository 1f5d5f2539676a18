-- worker-unregister: deletes our worker row on shutdown, as a Python worker does. The foreign key
-- then sets worker_id to NULL on every job that referenced it, so a job still doing looks stalled
-- at once: call it last, after every job of ours is written.
-- Parameters: $1 bigint our worker id.
-- Returns one row (void).
SELECT procrastinate_unregister_worker_v1($1::bigint)
