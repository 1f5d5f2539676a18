-- start: turns a reservation into a running occupancy of a task, in one statement timed by now().
-- Acts only if the slot is still reserved under the token, its lease has not lapsed, and no slot of
-- the scheduler name holds the task id in the statement's snapshot. A concurrent start of the same
-- task id that this snapshot cannot see is stopped by task_semaphore_slots_task_uidx (SQLSTATE
-- 23505): the caller then runs this statement again, and the new snapshot shows the holder.
-- The task's tombstone, if any, goes in the same statement.
--
-- Parameters:
--   $1 text     scheduler name
--   $2 text     slot id
--   $3 bigint   token of the reservation
--   $4 text     task id
--   $5 text     backend
--   $6 bigint   timeout ms
--   $7 bigint   max runtime ms, or null for no cap
-- Returns one row:
--   reservation_valid boolean  the reservation held in the snapshot
--   holder text                slot holding the task id in the snapshot, or null
--   the slot's columns (slot_id, token, task_id, backend, owner, started_at, last_keepalive_at,
--   deadline, max_deadline, timeout_ms, max_runtime_ms, cancel_requested) if it started, else nulls
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
),
reservation AS (
  SELECT s.status = 'reserved' AND s.token = $3::bigint AND s.lease_until > c.now_ms AS valid
  FROM __SCHEMA__.task_semaphore_slots AS s CROSS JOIN clock AS c
  WHERE s.scheduler = $1::text AND s.slot_id = $2::text
),
holder AS (
  SELECT s.slot_id
  FROM __SCHEMA__.task_semaphore_slots AS s
  WHERE s.scheduler = $1::text AND s.task_id = $4::text
),
started AS (
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET status = 'running', lease_until = NULL, task_id = $4::text, backend = $5::text,
      started_at = c.now_ms, last_keepalive_at = c.now_ms, deadline = c.now_ms + $6::bigint,
      max_deadline = c.now_ms + $7::bigint, timeout_ms = $6::bigint, max_runtime_ms = $7::bigint,
      cancel_requested = false
  FROM clock AS c
  WHERE s.scheduler = $1::text
    AND s.slot_id = $2::text
    AND s.status = 'reserved'
    AND s.token = $3::bigint
    AND s.lease_until > c.now_ms
    AND NOT EXISTS (SELECT 1 FROM holder)
  RETURNING s.*
),
cleared AS (
  DELETE FROM __SCHEMA__.task_semaphore_ended AS e
  WHERE e.scheduler = $1::text AND e.task_id = $4::text AND EXISTS (SELECT 1 FROM started)
)
SELECT coalesce((SELECT valid FROM reservation), false) AS reservation_valid,
       (SELECT slot_id FROM holder) AS holder,
       st.slot_id, st.token, st.task_id, st.backend, st.owner, st.started_at, st.last_keepalive_at,
       st.deadline, st.max_deadline, st.timeout_ms, st.max_runtime_ms, st.cancel_requested
FROM (VALUES (1)) AS one (x)
LEFT JOIN started AS st ON true;
