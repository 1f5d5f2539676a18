-- request-cancel: flags a running occupancy that has not passed its deadline or max deadline, so
-- that its next keepalive reports cancel_requested. One statement timed by now().
--
-- Parameters:
--   $1 text     scheduler name
--   $2 text     task id
--   $3 bigint   token, or null for whichever occupancy holds the task
--   $4 text     events channel: when it acts, {"scheduler", "type": "cancel", "taskId", "token"} is published on it
-- Returns one row:
--   acted boolean; already_requested boolean (the flag before this call); the slot's occupancy
--   columns after flagging when acted; and the lookup columns described in keepalive.sql.
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
),
hit AS MATERIALIZED (
  -- Locked first to read the flag as it was: RETURNING only shows the new value.
  SELECT s.slot_id, s.cancel_requested AS already_requested
  FROM __SCHEMA__.task_semaphore_slots AS s CROSS JOIN clock AS c
  WHERE s.scheduler = $1::text
    AND s.task_id = $2::text
    AND s.status = 'running'
    AND ($3::bigint IS NULL OR s.token = $3::bigint)
    AND s.deadline > c.now_ms
    AND (s.max_deadline IS NULL OR s.max_deadline > c.now_ms)
  FOR UPDATE OF s
),
acted AS (
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET cancel_requested = true
  FROM hit AS h
  WHERE s.scheduler = $1::text AND s.slot_id = h.slot_id
  RETURNING s.*, h.already_requested
)
SELECT a.slot_id IS NOT NULL AS acted, a.already_requested,
       a.slot_id, a.token, a.task_id, a.backend, a.owner, a.started_at, a.last_keepalive_at,
       a.deadline, a.max_deadline, a.timeout_ms, a.max_runtime_ms, a.cancel_requested,
       cur.slot_id AS cur_slot_id, cur.token AS cur_token,
       CASE WHEN cur.max_deadline <= c.now_ms THEN 'max_runtime'
            WHEN cur.deadline <= c.now_ms THEN 'timeout' END AS cur_expiry,
       e.slot_id AS ended_slot_id, e.token AS ended_token, e.reason AS ended_reason,
       CASE WHEN a.slot_id IS NOT NULL THEN
         pg_notify($4::text, json_build_object('scheduler', $1::text, 'type', 'cancel', 'taskId', a.task_id, 'token', a.token)::text)
       END AS notified
FROM clock AS c
LEFT JOIN acted AS a ON true
LEFT JOIN __SCHEMA__.task_semaphore_slots AS cur ON cur.scheduler = $1::text AND cur.task_id = $2::text
-- The end of the occupancy asked about (by token; without one, the task's last), if kept.
LEFT JOIN __SCHEMA__.task_semaphore_occupancy_end_v1($1::text, $2::text, $3::bigint) AS e ON true;
