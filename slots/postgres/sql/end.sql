-- end: ends a running occupancy that has not passed its deadline or max deadline, in one
-- statement timed by now(): frees the slot (or, with $11, keeps it reserved for the caller under a
-- fresh token, as begin-pass reserves), writes the task's tombstone, and appends the ended record
-- to the outbox when its backend is not deliverable (dropping the oldest entries beyond the outbox
-- limit). Reason 'stopped' becomes 'cancelled' when a cancel was requested or the status is
-- 'cancelled'.
--
-- Parameters:
--   $1 text     scheduler name
--   $2 text     task id
--   $3 bigint   token, or null for whichever occupancy holds the task
--   $4 text     reason
--   $5 text     status reported by the task, or null
--   $6 text     error message, or null
--   $7 text[]   deliverable backends
--   $8 bigint   outbox limit
--   $9 boolean  notify: when it acts without $11, publish {"scheduler", "type": "freed", "slotId"}
--               on channel $10
--   $10 text    events channel
--   $11 text    reserve owner: when it acts, the slot becomes reserved by it (and nothing is
--               published: the slot is not free); null frees the slot
--   $12 bigint  lease ms of that reservation (ignored without $11)
--   $13 regclass the token sequence (a parameter, so no schema name sits inside a string literal)
-- Returns one row:
--   acted boolean; record jsonb (the EndedOccupancy) and delivered boolean when acted;
--   reserved_token bigint: the reservation's token when it acted with $11, else null;
--   and the lookup columns described in keepalive.sql.
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
),
hit AS MATERIALIZED (
  -- Locked first: the lock re-reads the row, so the record carries its current values (e.g. a
  -- keepalive or cancel request that committed while this statement waited).
  SELECT s.*,
         CASE WHEN $4::text = 'stopped' AND (s.cancel_requested OR $5::text = 'cancelled')
              THEN 'cancelled' ELSE $4::text END AS reason
  FROM __SCHEMA__.task_semaphore_slots AS s CROSS JOIN clock AS c
  WHERE s.scheduler = $1::text
    AND s.task_id = $2::text
    AND s.status = 'running'
    AND ($3::bigint IS NULL OR s.token = $3::bigint)
    AND s.deadline > c.now_ms
    AND (s.max_deadline IS NULL OR s.max_deadline > c.now_ms)
  FOR UPDATE OF s
),
freed AS (
  -- nextval() sits in a CASE so that it runs only for a row this end updates, with $11 set: an end
  -- that does not act, or frees the slot, takes no token.
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET status = CASE WHEN $11::text IS NULL THEN 'idle' ELSE 'reserved' END,
      token = CASE WHEN $11::text IS NULL THEN s.token ELSE nextval($13::regclass) END,
      owner = $11::text,
      lease_until = CASE WHEN $11::text IS NOT NULL THEN c.now_ms + $12::bigint END,
      task_id = NULL, backend = NULL,
      started_at = NULL, last_keepalive_at = NULL, deadline = NULL, max_deadline = NULL,
      timeout_ms = NULL, max_runtime_ms = NULL, cancel_requested = false
  FROM hit AS h CROSS JOIN clock AS c
  WHERE s.scheduler = $1::text AND s.slot_id = h.slot_id
  -- h.token is the ended occupancy's; s.token the reservation's, when one was made.
  RETURNING h.*, CASE WHEN $11::text IS NOT NULL THEN s.token END AS reserved_token
),
records AS (
  SELECT f.slot_id, f.task_id, f.token, f.backend, f.reason, f.reserved_token,
         f.backend = ANY ($7::text[]) AS delivered,
         jsonb_build_object(
           'slotId', f.slot_id, 'token', f.token, 'taskId', f.task_id, 'backend', f.backend,
           'owner', f.owner, 'startedAt', f.started_at, 'lastKeepaliveAt', f.last_keepalive_at,
           'deadline', f.deadline, 'maxDeadline', f.max_deadline, 'timeoutMs', f.timeout_ms,
           'maxRuntimeMs', f.max_runtime_ms, 'cancelRequested', f.cancel_requested,
           'reason', f.reason, 'endedAt', c.now_ms, 'status', $5::text, 'error', $6::text
         ) AS record
  FROM freed AS f CROSS JOIN clock AS c
),
tombstone AS (
  INSERT INTO __SCHEMA__.task_semaphore_ended AS e (scheduler, task_id, slot_id, token, reason, ended_at)
  SELECT $1::text, r.task_id, r.slot_id, r.token, r.reason, c.now_ms
  FROM records AS r CROSS JOIN clock AS c
  ON CONFLICT (scheduler, task_id) DO UPDATE
  SET slot_id = excluded.slot_id, token = excluded.token, reason = excluded.reason, ended_at = excluded.ended_at
),
dropped AS MATERIALIZED (
  -- Existing entries beyond the limit once the record is appended; only when one is appended.
  SELECT o.id
  FROM __SCHEMA__.task_semaphore_outbox AS o
  WHERE o.scheduler = $1::text AND EXISTS (SELECT 1 FROM records WHERE NOT delivered)
  ORDER BY o.id DESC
  OFFSET greatest($8::bigint - 1, 0)
),
trimmed AS (
  -- SKIP LOCKED: an entry a pass is taking is on its way out anyway, and waiting could deadlock.
  DELETE FROM __SCHEMA__.task_semaphore_outbox AS o
  WHERE o.id IN (
    SELECT l.id FROM __SCHEMA__.task_semaphore_outbox AS l
    WHERE l.id IN (SELECT id FROM dropped)
    FOR UPDATE SKIP LOCKED)
),
queued AS (
  INSERT INTO __SCHEMA__.task_semaphore_outbox (scheduler, backend, record)
  SELECT $1::text, r.backend, r.record
  FROM records AS r
  WHERE NOT r.delivered AND $8::bigint > 0
)
SELECT r.slot_id IS NOT NULL AS acted, r.record, r.delivered, r.reserved_token,
       cur.slot_id AS cur_slot_id, cur.token AS cur_token,
       CASE WHEN cur.max_deadline <= c.now_ms THEN 'max_runtime'
            WHEN cur.deadline <= c.now_ms THEN 'timeout' END AS cur_expiry,
       e.slot_id AS ended_slot_id, e.token AS ended_token, e.reason AS ended_reason,
       -- Sent at commit, so only an end that took effect is announced; a kept slot is not free.
       CASE WHEN $9::boolean AND $11::text IS NULL AND r.slot_id IS NOT NULL THEN
         pg_notify($10::text, json_build_object('scheduler', $1::text, 'type', 'freed', 'slotId', r.slot_id)::text)
       END AS notified
FROM clock AS c
LEFT JOIN records AS r ON true
LEFT JOIN __SCHEMA__.task_semaphore_slots AS cur ON cur.scheduler = $1::text AND cur.task_id = $2::text
LEFT JOIN __SCHEMA__.task_semaphore_ended AS e ON e.scheduler = $1::text AND e.task_id = $2::text;
