-- purge: removes every row of one scheduler name (slots, ends kept, outbox, delivery log,
-- history, acquire queue) in one statement, and no row of another name; the token sequence,
-- shared by the names of the schema, goes on growing. It refuses, removing nothing, while a slot
-- is running (overdue or not: its end was never delivered) or reserved under a lease that has not
-- lapsed, unless $2.
-- The name's slots are locked first, so the check reads them as they are, and a pass or start of
-- the name waits for the purge to commit.
--
-- Parameters: $1 text: scheduler name; $2 boolean: purge even while slots are busy.
-- Returns one row:
--   purged boolean
--   slots bigint   slots removed
--   busy jsonb     the busy slots, in slot id order: [{"slotId", "status", "owner", "taskId", "token"}]
--                  (taskId and token null for a reserved slot)
WITH clock AS (
  SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
),
locked AS MATERIALIZED (
  SELECT s.slot_id, s.status, s.owner, s.lease_until, s.task_id, s.token
  FROM __SCHEMA__.task_semaphore_slots AS s
  WHERE s.scheduler = $1::text
  ORDER BY s.slot_id
  FOR UPDATE OF s
),
busy AS MATERIALIZED (
  SELECT l.*
  FROM locked AS l CROSS JOIN clock AS c
  WHERE l.status = 'running' OR (l.status = 'reserved' AND l.lease_until > c.now_ms)
),
go AS MATERIALIZED (
  SELECT $2::boolean OR NOT EXISTS (SELECT 1 FROM busy) AS ok
),
gone_slots AS (
  -- Through `locked`, so that it is read (and its rows kept as they were) before any goes, even
  -- when $2 spares the check; a slot created since the statement began is not in it, and stays.
  DELETE FROM __SCHEMA__.task_semaphore_slots AS s
  USING locked AS l
  WHERE s.scheduler = $1::text AND s.slot_id = l.slot_id AND (SELECT ok FROM go)
  RETURNING s.slot_id
),
gone_ended AS (
  DELETE FROM __SCHEMA__.task_semaphore_ended AS e WHERE e.scheduler = $1::text AND (SELECT ok FROM go)
),
gone_ends AS (
  DELETE FROM __SCHEMA__.task_semaphore_occupancy_ends AS e WHERE e.scheduler = $1::text AND (SELECT ok FROM go)
),
gone_outbox AS (
  DELETE FROM __SCHEMA__.task_semaphore_outbox AS o WHERE o.scheduler = $1::text AND (SELECT ok FROM go)
),
gone_deliveries AS (
  DELETE FROM __SCHEMA__.task_semaphore_deliveries AS d WHERE d.scheduler = $1::text AND (SELECT ok FROM go)
),
gone_history AS (
  DELETE FROM __SCHEMA__.task_semaphore_history AS h WHERE h.scheduler = $1::text AND (SELECT ok FROM go)
),
gone_waiters AS (
  DELETE FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = $1::text AND (SELECT ok FROM go)
)
SELECT (SELECT ok FROM go) AS purged,
       (SELECT count(*) FROM gone_slots) AS slots,
       coalesce((SELECT jsonb_agg(jsonb_build_object('slotId', b.slot_id, 'status', b.status, 'owner', b.owner,
                                                     'taskId', b.task_id, 'token', b.token) ORDER BY b.slot_id)
                 FROM busy AS b), '[]'::jsonb) AS busy;
