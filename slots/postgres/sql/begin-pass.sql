-- begin-pass: one scheduling pass in one statement, timed by now(). In order of the contract:
--   1. reap lapsed reservations and overdue occupancies of the whole scheduler name (at most $7,
--      in slot id order), keep the ends of the occupancies (migrate-005.sql), queue to the outbox those whose
--      backend is not deliverable (dropping the oldest entries beyond $8);
--   2. with a delivery lease ($12), take the records of deliverable backends in the delivery log
--      (migrate-004.sql) whose lease lapsed, oldest due first, with what is left of $7: leased
--      again to $3 and marked redelivered;
--   3. take (delete) outbox entries of deliverable backends, oldest first, with what is left of $7;
--   4. prune the ends kept that are at or before now - $6, and (with $13) at most $7 history
--      records that started and ended at or before now - $13;
--   5. give the slots reaped in 1, then the idle slots of $2, to the acquire queue's waiters
--      (task_semaphore_grant_v1, migrate-007.sql);
--   6. reserve, under fresh tokens, every idle slot of $2 left (creating missing ones), and list the
--      running occupancies of $2, those started in 5 among them;
--   7. announce the slots reaped in 1 that no waiter took (idle until a later pass reserves them)
--      on channel $11.
-- With $12, every record returned (reaped, redelivered, taken from the outbox) is leased to $3 in
-- the delivery log until now + $12. With $13, each occupancy reaped in 1 gets its history record
-- (migrate-006.sql).
-- Data-modifying CTEs all see the snapshot taken when the statement began, so a slot reaped here
-- was not idle in it and is not reserved here (the contract allows that). No two CTEs modify one row.
-- The grants of 5 are the one exception, made by a function in later commands of the statement:
-- after the reaping, whose result it reads, and before the reserving, which skips what it granted.
-- Rows are locked with SKIP LOCKED wherever a pass would otherwise wait on another: a row another
-- transaction is changing is left for the next pass.
--
-- Parameters:
--   $1 text     scheduler name
--   $2 text[]   slot ids to fill, in config order
--   $3 text     owner: the calling scheduler instance
--   $4 bigint   lease ms
--   $5 text[]   deliverable backends
--   $6 bigint   retention ms of the ends kept
--   $7 bigint   limit: most reaped slots plus outbox entries taken
--   $8 bigint   outbox limit
--   $9 regclass the token sequence (a parameter, so no schema name sits inside a string literal)
--   $10 bigint  most idle slots to reserve, first in $2 order; null for all
--   $11 text    events channel, or null for none: {"scheduler", "type": "freed", "slotId"} is
--               published on it (sent at commit) for each slot reaped here
--   $12 bigint  delivery lease ms; null for none (records are handed out unlogged, as before)
--   $13 bigint  history retention ms; null for no history (nothing written, nothing pruned)
--   $14 text    events channel of the grants: {"scheduler", "type": "granted", "taskId", "token",
--               "slotId"} is published on it (sent at commit) for each slot a waiter takes
-- Returns rows tagged by kind, ordered by kind, grp, pos, slot_id:
--   'pass'     one row: now_ms bigint, expired bigint (lapsed reservations set idle)
--   'ended'    record jsonb (an EndedOccupancy): reaped ones (grp 0) in slot id order, then
--              redeliveries (grp 1) by due time, then taken outbox entries (grp 2) in outbox order
--   'reserved' slot_id text, token bigint, pos = position in $2
--   'running'  record jsonb (an Occupancy), pos = position in $2
-- SQLSTATE 23505 on task_semaphore_slots_task_uidx (a waiter's task started elsewhere while it was
-- being granted) leaves nothing applied: the caller runs the call again.
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
),
positions AS MATERIALIZED (
  -- The position of each slot id in $2 (its first: the smallest is aggregated last, and wins), as
  -- one jsonb object, read through a scalar subquery (evaluated once; a join would carry the
  -- object in every row) and looked up per row. A join with the slot ids of $2 instead left the
  -- plan to the statistics of the slots table: taken while most slots were reserved, they made the
  -- planner expect one idle slot and loop over $2 for each (12 s a pass at 10,000 slots, 150 ms now).
  SELECT jsonb_object_agg(w.slot_id, w.ord ORDER BY w.ord DESC) AS of
  FROM unnest($2::text[]) WITH ORDINALITY AS w(slot_id, ord)
),
victims AS MATERIALIZED (
  -- Locked so that a concurrent pass skips them rather than ending them a second time; the lock
  -- re-reads each row, so the values are current, not the snapshot's.
  SELECT s.*,
         CASE WHEN s.status = 'reserved' THEN NULL
              WHEN s.max_deadline <= c.now_ms THEN 'max_runtime'
              ELSE 'timeout' END AS reason
  FROM __SCHEMA__.task_semaphore_slots AS s CROSS JOIN clock AS c
  WHERE s.scheduler = $1::text
    AND ((s.status = 'reserved' AND s.lease_until <= c.now_ms)
      OR (s.status = 'running' AND (s.deadline <= c.now_ms OR s.max_deadline <= c.now_ms)))
  ORDER BY s.slot_id
  LIMIT greatest($7::bigint, 0)
  FOR UPDATE OF s SKIP LOCKED
),
reaped AS (
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET status = 'idle', owner = NULL, lease_until = NULL, task_id = NULL, backend = NULL,
      started_at = NULL, last_keepalive_at = NULL, deadline = NULL, max_deadline = NULL,
      timeout_ms = NULL, max_runtime_ms = NULL, cancel_requested = false,
      reserved_at = NULL, keepalives = 0, process_lease = false
  FROM victims AS v
  WHERE s.scheduler = $1::text AND s.slot_id = v.slot_id
  RETURNING v.*
),
grants AS MATERIALIZED (
  -- Volatile: its queries read fresh snapshots, which hold the reaping above (the array is read in
  -- full first). Slots it grants are running from then on, left alone by `free` and announced by
  -- no `freed`. A slot both reaped and listed in $2 is offered once, with the reaped.
  SELECT g.granted_slot, g.occupancy
  FROM __SCHEMA__.task_semaphore_grant_v1(
    $1::text, ARRAY(SELECT r.slot_id FROM reaped AS r ORDER BY r.slot_id) || $2::text[], NULL,
    $9::regclass, $14::text
  ) AS g
),
records AS (
  SELECT r.slot_id, r.task_id, r.token, r.backend, r.reason,
         r.backend = ANY ($5::text[]) AS deliverable,
         jsonb_build_object(
           'slotId', r.slot_id, 'token', r.token, 'taskId', r.task_id, 'backend', r.backend,
           'owner', r.owner, 'startedAt', r.started_at, 'lastKeepaliveAt', r.last_keepalive_at,
           'deadline', r.deadline, 'maxDeadline', r.max_deadline, 'timeoutMs', r.timeout_ms,
           'maxRuntimeMs', r.max_runtime_ms, 'cancelRequested', r.cancel_requested,
           'reason', r.reason, 'endedAt', c.now_ms, 'status', NULL::text, 'error', NULL::text
         ) AS record
  FROM reaped AS r CROSS JOIN clock AS c
  WHERE r.reason IS NOT NULL
),
kept_ends AS (
  -- With a retention of 0 or less an end would be pruned at once: skip keeping it. An occupancy
  -- ends once: DO NOTHING only guards a replay.
  INSERT INTO __SCHEMA__.task_semaphore_occupancy_ends (scheduler, task_id, token, slot_id, reason, ended_at)
  SELECT $1::text, r.task_id, r.token, r.slot_id, r.reason, c.now_ms
  FROM records AS r CROSS JOIN clock AS c
  WHERE $6::bigint > 0
  ON CONFLICT (scheduler, task_id, token) DO NOTHING
),
history AS (
  -- An occupancy ends once: DO NOTHING only guards a replay.
  INSERT INTO __SCHEMA__.task_semaphore_history (
    scheduler, task_id, token, slot_id, backend, owner, reserved_at, started_at, last_keepalive_at,
    keepalives, ended_at, outcome, reason, status, error)
  SELECT $1::text, r.task_id, r.token, r.slot_id, r.backend, r.owner, r.reserved_at, r.started_at,
         r.last_keepalive_at, r.keepalives, c.now_ms,
         __SCHEMA__.task_semaphore_history_outcome_v1(r.reason, NULL, NULL, r.process_lease), r.reason, NULL, NULL
  FROM reaped AS r CROSS JOIN clock AS c
  WHERE r.reason IS NOT NULL AND $13::bigint IS NOT NULL
  ON CONFLICT (scheduler, task_id, token) DO NOTHING
),
leased_reaped AS (
  INSERT INTO __SCHEMA__.task_semaphore_deliveries (scheduler, task_id, token, backend, owner, due_at, record)
  SELECT $1::text, r.task_id, r.token, r.backend, $3::text, c.now_ms + $12::bigint, r.record
  FROM records AS r CROSS JOIN clock AS c
  WHERE r.deliverable AND $12::bigint IS NOT NULL
  ON CONFLICT (scheduler, task_id, token) DO NOTHING
),
lapsed AS MATERIALIZED (
  -- SKIP LOCKED: a record another pass is taking, or its deliverer acknowledging, is left alone.
  SELECT d.task_id, d.token, d.due_at
  FROM __SCHEMA__.task_semaphore_deliveries AS d CROSS JOIN clock AS c
  WHERE d.scheduler = $1::text
    AND $12::bigint IS NOT NULL
    AND d.due_at <= c.now_ms
    AND d.backend = ANY ($5::text[])
  ORDER BY d.due_at
  LIMIT greatest($7::bigint - (SELECT count(*) FROM victims), 0)
  FOR UPDATE OF d SKIP LOCKED
),
redelivered AS (
  UPDATE __SCHEMA__.task_semaphore_deliveries AS d
  SET owner = $3::text, due_at = c.now_ms + $12::bigint, record = d.record || '{"redelivered": true}'::jsonb
  FROM lapsed AS l CROSS JOIN clock AS c
  WHERE d.scheduler = $1::text AND d.task_id = l.task_id AND d.token = l.token
  RETURNING l.due_at AS was_due, d.record
),
queued_count AS (
  SELECT count(*) AS n FROM records WHERE NOT deliverable
),
dropped AS MATERIALIZED (
  -- Existing entries that fall beyond the outbox limit once the queued ones are appended. Only
  -- computed when something is queued: the outbox never grows otherwise.
  SELECT o.id
  FROM __SCHEMA__.task_semaphore_outbox AS o
  WHERE o.scheduler = $1::text AND (SELECT n FROM queued_count) > 0
  ORDER BY o.id DESC
  OFFSET greatest($8::bigint - (SELECT n FROM queued_count), 0)
),
trimmed AS (
  -- SKIP LOCKED: an entry another pass is taking is on its way out anyway, and waiting for it
  -- could deadlock with that pass.
  DELETE FROM __SCHEMA__.task_semaphore_outbox AS o
  WHERE o.id IN (
    SELECT l.id FROM __SCHEMA__.task_semaphore_outbox AS l
    WHERE l.id IN (SELECT id FROM dropped)
    FOR UPDATE SKIP LOCKED)
),
queued AS (
  -- When more are queued than the limit, only the last ones are kept.
  INSERT INTO __SCHEMA__.task_semaphore_outbox (scheduler, backend, record)
  SELECT $1::text, r.backend, r.record
  FROM records AS r
  WHERE NOT r.deliverable
  ORDER BY r.slot_id
  OFFSET greatest((SELECT n FROM queued_count) - greatest($8::bigint, 0), 0)
),
taken_ids AS MATERIALIZED (
  SELECT o.id
  FROM __SCHEMA__.task_semaphore_outbox AS o
  WHERE o.scheduler = $1::text
    AND o.backend = ANY ($5::text[])
    AND o.id NOT IN (SELECT id FROM dropped)
  ORDER BY o.id
  LIMIT greatest($7::bigint - (SELECT count(*) FROM victims) - (SELECT count(*) FROM lapsed), 0)
  FOR UPDATE OF o SKIP LOCKED
),
taken AS (
  DELETE FROM __SCHEMA__.task_semaphore_outbox AS o
  USING taken_ids AS t
  WHERE o.id = t.id
  RETURNING o.id, o.record
),
leased_taken AS (
  INSERT INTO __SCHEMA__.task_semaphore_deliveries (scheduler, task_id, token, backend, owner, due_at, record)
  SELECT $1::text, t.record ->> 'taskId', (t.record ->> 'token')::bigint, t.record ->> 'backend', $3::text,
         c.now_ms + $12::bigint, t.record
  FROM taken AS t CROSS JOIN clock AS c
  WHERE $12::bigint IS NOT NULL
  ON CONFLICT (scheduler, task_id, token) DO NOTHING
),
pruned AS (
  -- Ends kept above are new rows, not among these.
  DELETE FROM __SCHEMA__.task_semaphore_occupancy_ends AS e
  WHERE (e.scheduler, e.task_id, e.token) IN (
    SELECT p.scheduler, p.task_id, p.token
    FROM __SCHEMA__.task_semaphore_occupancy_ends AS p CROSS JOIN clock AS c
    WHERE p.scheduler = $1::text
      AND p.ended_at <= c.now_ms - $6::bigint
    FOR UPDATE OF p SKIP LOCKED)
),
pruned_v1 AS (
  -- What task_semaphore_end_v1 still writes (migrate-005.sql); nothing reads it.
  DELETE FROM __SCHEMA__.task_semaphore_ended AS e
  WHERE (e.scheduler, e.task_id) IN (
    SELECT p.scheduler, p.task_id
    FROM __SCHEMA__.task_semaphore_ended AS p CROSS JOIN clock AS c
    WHERE p.scheduler = $1::text
      AND p.ended_at <= c.now_ms - $6::bigint
    FOR UPDATE OF p SKIP LOCKED)
),
pruned_history AS (
  -- The oldest first, a bounded batch: a record that started before the cutoff but ended after it
  -- is passed over until it is due. Records written above are new rows, not among these.
  DELETE FROM __SCHEMA__.task_semaphore_history AS h
  WHERE (h.scheduler, h.task_id, h.token) IN (
    SELECT p.scheduler, p.task_id, p.token
    FROM __SCHEMA__.task_semaphore_history AS p CROSS JOIN clock AS c
    WHERE p.scheduler = $1::text
      AND $13::bigint IS NOT NULL
      AND p.started_at <= c.now_ms - $13::bigint
      AND p.ended_at <= c.now_ms - $13::bigint
    ORDER BY p.started_at
    LIMIT greatest($7::bigint, 0)
    FOR UPDATE OF p SKIP LOCKED)
),
free AS MATERIALIZED (
  -- Idle in the snapshot and still idle once locked; a slot another pass holds is skipped, not waited for.
  -- Only as many as the caller may reserve are locked, first in config order (the lock is taken
  -- row by row as the limit pulls them): a pass at its maxReserve must not hold idle slots that a
  -- concurrent pass of a scheduler with room would take (passes on one cron tick run together).
  -- The slots granted above read idle in this snapshot: the array (evaluated once, before any row
  -- is locked) leaves them out, and so does their lock, which finds them changed by this transaction.
  SELECT s.slot_id, ((SELECT p.of FROM positions AS p) ->> s.slot_id)::bigint AS ord, s.ctid AS row_at
  FROM __SCHEMA__.task_semaphore_slots AS s
  -- A slot of $2 is a key of `positions` (`?` searches its sorted keys): `= ANY ($2)` compares
  -- each row with every element of the array, once it is a parameter (10,000 slots: 575 ms).
  WHERE s.scheduler = $1::text AND (SELECT p.of FROM positions AS p) ? s.slot_id AND s.status = 'idle'
    AND s.slot_id <> ALL (ARRAY(SELECT g.granted_slot FROM grants AS g))
  ORDER BY 2
  LIMIT $10::bigint
  FOR UPDATE OF s SKIP LOCKED
),
tokens AS MATERIALIZED (
  -- nextval() is evaluated after the sort, so tokens grow in config order.
  SELECT f.slot_id, f.row_at, nextval($9::regclass) AS token
  FROM free AS f
  ORDER BY f.ord
),
reserved AS (
  -- Each row found by the address `free` locked it at: nothing moves a locked row before this
  -- update. Joined by slot id instead, the plan followed the statistics of the slots table: with
  -- none yet for a name's slots (loaded since the last analyse), the planner expected one and
  -- scanned all of the name's slots for each token (1,000 slots: 142 ms a pass, 499,500 rows
  -- filtered out; 10,000: 13 s).
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET status = 'reserved', token = t.token, owner = $3::text, lease_until = c.now_ms + $4::bigint,
      reserved_at = c.now_ms, keepalives = 0, process_lease = false
  FROM tokens AS t CROSS JOIN clock AS c
  WHERE s.ctid = t.row_at AND s.scheduler = $1::text AND s.slot_id = t.slot_id
  RETURNING s.slot_id, s.token
),
created AS (
  -- Slots of $2 the store does not know yet are created already reserved, as the memory store
  -- does. A concurrent creator wins the row; this pass then leaves it alone. EXCEPT, a set
  -- operation (hashed or sorted, never a loop), rather than an anti-join, whose plan followed the
  -- statistics of the slots table: on a table not yet analysed the planner expected 14 slots of
  -- the name and looped over them for each of $2 (9 s a pass at 10,000 slots). Their tokens come
  -- from the sequence raised to the clock first (migrate-010.sql): slots missing since the tables
  -- were emptied (a crash with `unlogged`) take none below those handed out before.
  INSERT INTO __SCHEMA__.task_semaphore_slots (scheduler, slot_id, status, token, owner, lease_until, reserved_at)
  SELECT $1::text, m.slot_id, 'reserved', __SCHEMA__.task_semaphore_slot_token_v1($9::regclass), $3::text,
         c.now_ms + $4::bigint, c.now_ms
  FROM (SELECT w.slot_id FROM unnest($2::text[]) AS w(slot_id)
        EXCEPT
        SELECT s.slot_id FROM __SCHEMA__.task_semaphore_slots AS s WHERE s.scheduler = $1::text) AS m
  CROSS JOIN clock AS c
  ORDER BY m.slot_id
  LIMIT greatest(coalesce($10::bigint, 9223372036854775807) - (SELECT count(*) FROM tokens), 0)
  ON CONFLICT (scheduler, slot_id) DO NOTHING
  RETURNING slot_id, token
),
announced AS MATERIALIZED (
  -- The schedulers with room refill them at once, rather than at their next tick: this pass
  -- cannot reserve them (see above), and its caller may be at its maxReserve.
  SELECT pg_notify($11::text, json_build_object('scheduler', $1::text, 'type', 'freed', 'slotId', r.slot_id)::text) AS sent
  FROM reaped AS r
  WHERE $11::text IS NOT NULL
    AND r.slot_id NOT IN (SELECT g.granted_slot FROM grants AS g)
),
running AS (
  -- Running in the snapshot and not reaped above.
  SELECT ((SELECT p.of FROM positions AS p) ->> s.slot_id)::bigint AS ord, s.slot_id,
         jsonb_build_object(
           'slotId', s.slot_id, 'token', s.token, 'taskId', s.task_id, 'backend', s.backend,
           'owner', s.owner, 'startedAt', s.started_at, 'lastKeepaliveAt', s.last_keepalive_at,
           'deadline', s.deadline, 'maxDeadline', s.max_deadline, 'timeoutMs', s.timeout_ms,
           'maxRuntimeMs', s.max_runtime_ms, 'cancelRequested', s.cancel_requested
         ) AS record
  FROM __SCHEMA__.task_semaphore_slots AS s
  WHERE s.scheduler = $1::text
    AND (SELECT p.of FROM positions AS p) ? s.slot_id -- a slot of $2, as in `free`
    AND s.status = 'running'
    AND s.slot_id NOT IN (SELECT slot_id FROM victims)
)
SELECT 'pass' AS kind, 0 AS grp, 0::bigint AS pos, NULL::text AS slot_id, NULL::bigint AS token,
       NULL::jsonb AS record, c.now_ms,
       (SELECT count(*) FROM victims WHERE reason IS NULL) AS expired
-- A CTE that nothing reads does not run: this join makes the notifications go out.
FROM clock AS c CROSS JOIN (SELECT count(*) FROM announced) AS a
UNION ALL
SELECT 'ended', 0, 0, r.slot_id, NULL, r.record, NULL, NULL FROM records AS r WHERE r.deliverable
UNION ALL
SELECT 'ended', 1, r.was_due, NULL, NULL, r.record, NULL, NULL FROM redelivered AS r
UNION ALL
SELECT 'ended', 2, t.id, NULL, NULL, t.record, NULL, NULL FROM taken AS t
UNION ALL
SELECT 'reserved', 0, ((SELECT p.of FROM positions AS p) ->> r.slot_id)::bigint, r.slot_id, r.token, NULL, NULL, NULL
FROM (SELECT slot_id, token FROM reserved UNION ALL SELECT slot_id, token FROM created) AS r
UNION ALL
SELECT 'running', 0, r.ord, r.slot_id, NULL, r.record, NULL, NULL FROM running AS r
UNION ALL
SELECT 'running', 0, ((SELECT p.of FROM positions AS p) ->> g.granted_slot)::bigint, g.granted_slot, NULL,
       g.occupancy, NULL, NULL
FROM grants AS g
WHERE (SELECT p.of FROM positions AS p) ? g.granted_slot
ORDER BY kind, grp, pos, slot_id;
