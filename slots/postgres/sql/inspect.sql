-- inspect: every slot of a scheduler name as the database has it now. Read only.
--
-- Parameters: $1 text: scheduler name.
-- Returns one row per slot: slot_id, status, token, owner, lease_until, the occupancy columns
-- (task_id, backend, started_at, last_keepalive_at, deadline, max_deadline, timeout_ms,
-- max_runtime_ms, cancel_requested; null unless running), and overdue boolean (running and past
-- its deadline or max deadline). Unordered: the caller sorts with compareSlotIds.
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
)
SELECT s.slot_id, s.status, s.token, s.owner, s.lease_until,
       s.task_id, s.backend, s.started_at, s.last_keepalive_at, s.deadline, s.max_deadline,
       s.timeout_ms, s.max_runtime_ms, s.cancel_requested,
       coalesce(s.status = 'running' AND (s.deadline <= c.now_ms OR s.max_deadline <= c.now_ms), false)
         AS overdue
FROM __SCHEMA__.task_semaphore_slots AS s CROSS JOIN clock AS c
WHERE s.scheduler = $1::text;
