-- keepalive: renews a running occupancy that has not passed its deadline or max deadline:
-- last_keepalive_at = now, deadline = now + timeout_ms, one more keepalive counted for the history
-- (migrate-006.sql). One statement timed by now().
--
-- Parameters:
--   $1 text     scheduler name
--   $2 text     task id
--   $3 bigint   token, or null for whichever occupancy holds the task
-- Returns one row:
--   acted boolean, and when true the slot's occupancy columns after renewal (slot_id, token,
--   task_id, backend, owner, started_at, last_keepalive_at, deadline, max_deadline, timeout_ms,
--   max_runtime_ms, cancel_requested);
--   when false, where the snapshot has the task (see lookup columns below).
-- Lookup columns (read from the statement's snapshot, meaningful only when acted is false):
--   cur_slot_id text, cur_token bigint    the slot holding the task, if any
--   cur_expiry text                       'max_runtime' / 'timeout' if that occupancy is overdue, else null
--   ended_slot_id text, ended_token bigint, ended_reason text   the kept end of the occupancy
--                                         asked about (by token; without one, the task's last)
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
),
acted AS (
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET last_keepalive_at = c.now_ms, deadline = c.now_ms + s.timeout_ms, keepalives = s.keepalives + 1
  FROM clock AS c
  WHERE s.scheduler = $1::text
    AND s.task_id = $2::text
    AND s.status = 'running'
    AND ($3::bigint IS NULL OR s.token = $3::bigint)
    AND s.deadline > c.now_ms
    AND (s.max_deadline IS NULL OR s.max_deadline > c.now_ms)
  RETURNING s.*
)
SELECT a.slot_id IS NOT NULL AS acted,
       a.slot_id, a.token, a.task_id, a.backend, a.owner, a.started_at, a.last_keepalive_at,
       a.deadline, a.max_deadline, a.timeout_ms, a.max_runtime_ms, a.cancel_requested,
       cur.slot_id AS cur_slot_id, cur.token AS cur_token,
       CASE WHEN cur.max_deadline <= c.now_ms THEN 'max_runtime'
            WHEN cur.deadline <= c.now_ms THEN 'timeout' END AS cur_expiry,
       e.slot_id AS ended_slot_id, e.token AS ended_token, e.reason AS ended_reason
FROM clock AS c
LEFT JOIN acted AS a ON true
LEFT JOIN __SCHEMA__.task_semaphore_slots AS cur ON cur.scheduler = $1::text AND cur.task_id = $2::text
-- The end of the occupancy asked about (by token; without one, the task's last), if kept.
LEFT JOIN __SCHEMA__.task_semaphore_occupancy_end_v1($1::text, $2::text, $3::bigint) AS e ON true;
