-- migrate-002: the functions behind start-many.sql and end-many.sql, which start or end several
-- occupancies in one call: one round trip and one transaction (one commit, one WAL flush) for a
-- whole batch. Idempotent (CREATE OR REPLACE); run by init() under migrations-lock.
-- Parameters: none (several statements). Returns: nothing.
--
-- A function's name carries a version: one whose arguments or result change gets a new name in a
-- new migration, so that processes of an older and a newer library can share a schema.
--
-- Each function takes parallel arrays, one element per request, and acts on the requests one after
-- the other, returning one row per request with its ordinal. In a volatile PL/pgSQL function under
-- READ COMMITTED every statement takes a new snapshot, which holds what the earlier statements of
-- the call did and what other transactions committed meanwhile: a later request sees the effect of
-- an earlier one, as if each ran alone, in order. An error rolls the whole call back, so nothing
-- of a batch is applied unless all of it is. Times come from now() (the transaction start), in
-- milliseconds as migrate-001.sql describes.
--
-- The bodies name tables with __SCHEMA__ and take the token sequence as a regclass argument, as
-- the statements do, so that no schema name sits inside a string literal.

-- task_semaphore_start_v1: per request, what a start does alone: it acts only if the slot is still
-- reserved under the token, its lease has not lapsed, and no slot of the scheduler name holds the
-- task id; the task's tombstone, if any, goes when it starts. A start of the same task id by a
-- concurrent transaction that no snapshot here saw is refused by task_semaphore_slots_task_uidx
-- (SQLSTATE 23505), which rolls back the call: the caller runs it again and then sees the holder.
--
-- Returns one row per request, by ord (1-based):
--   reservation_valid boolean  the reservation held when the request was looked at
--   holder text                the slot holding the task id then, or null
--   occupancy jsonb            the started Occupancy, or null if it did not start
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_start_v1(
  scheduler_name text,
  slot_ids text[],
  tokens bigint[],
  task_ids text[],
  backends text[],
  timeouts_ms bigint[],
  max_runtimes_ms bigint[] -- null elements: no runtime cap
) RETURNS TABLE (ord integer, reservation_valid boolean, holder text, occupancy jsonb)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  now_ms bigint := floor(extract(epoch FROM now()) * 1000)::bigint;
  n integer := coalesce(cardinality(slot_ids), 0);
BEGIN
  IF coalesce(cardinality(tokens), 0) <> n OR coalesce(cardinality(task_ids), 0) <> n
     OR coalesce(cardinality(backends), 0) <> n OR coalesce(cardinality(timeouts_ms), 0) <> n
     OR coalesce(cardinality(max_runtimes_ms), 0) <> n THEN
    RAISE EXCEPTION 'task_semaphore_start_v1: the request arrays differ in length';
  END IF;
  FOR i IN 1 .. n LOOP
    ord := i;
    -- Both looks in one statement: one snapshot, one execution per request.
    SELECT coalesce((SELECT s.status = 'reserved' AND s.token = tokens[i] AND s.lease_until > now_ms
                     FROM __SCHEMA__.task_semaphore_slots AS s
                     WHERE s.scheduler = scheduler_name AND s.slot_id = slot_ids[i]), false),
           (SELECT s.slot_id
            FROM __SCHEMA__.task_semaphore_slots AS s
            WHERE s.scheduler = scheduler_name AND s.task_id = task_ids[i])
    INTO reservation_valid, holder;

    occupancy := NULL;
    IF reservation_valid AND holder IS NULL THEN
      -- The conditions again: the row may have changed since it was read (the update re-checks
      -- them on the row it locks).
      UPDATE __SCHEMA__.task_semaphore_slots AS s
      SET status = 'running', lease_until = NULL, task_id = task_ids[i], backend = backends[i],
          started_at = now_ms, last_keepalive_at = now_ms, deadline = now_ms + timeouts_ms[i],
          max_deadline = now_ms + max_runtimes_ms[i], timeout_ms = timeouts_ms[i],
          max_runtime_ms = max_runtimes_ms[i], cancel_requested = false
      WHERE s.scheduler = scheduler_name
        AND s.slot_id = slot_ids[i]
        AND s.status = 'reserved'
        AND s.token = tokens[i]
        AND s.lease_until > now_ms
      RETURNING jsonb_build_object(
        'slotId', s.slot_id, 'token', s.token, 'taskId', s.task_id, 'backend', s.backend,
        'owner', s.owner, 'startedAt', s.started_at, 'lastKeepaliveAt', s.last_keepalive_at,
        'deadline', s.deadline, 'maxDeadline', s.max_deadline, 'timeoutMs', s.timeout_ms,
        'maxRuntimeMs', s.max_runtime_ms, 'cancelRequested', s.cancel_requested)
      INTO occupancy;

      IF occupancy IS NOT NULL THEN
        DELETE FROM __SCHEMA__.task_semaphore_ended AS e
        WHERE e.scheduler = scheduler_name AND e.task_id = task_ids[i];
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;

-- task_semaphore_end_v1: per request, what an end does alone: it ends a running occupancy that has
-- not passed its deadline or max deadline, frees the slot (or, with a reserve owner, keeps it
-- reserved for that owner under a fresh token, as begin-pass reserves), writes the task's
-- tombstone, and appends the ended record to the outbox when its backend is not deliverable
-- (dropping the oldest entries beyond the outbox limit). Reason 'stopped' becomes 'cancelled' when
-- a cancel was requested or the status is 'cancelled'. With notify and no reserve owner, it
-- publishes {"scheduler", "type": "freed", "slotId"} on the events channel (sent at commit).
--
-- When the row the request found changed before it could be locked (a concurrent end, reap or
-- start committed meanwhile) and a new look still shows the task live and matching, the request
-- looks again, up to 5 times; then the call fails with SQLSTATE TS001 (message naming the task,
-- DETAIL the task id), and nothing of it is applied.
--
-- Returns one row per request, by ord (1-based):
--   acted boolean
--   ended jsonb (the EndedOccupancy) and delivered boolean, when acted
--   reserved_token bigint: the kept slot's token when acted with a reserve owner, else null
--   when not acted, where the task is (the lookup columns of keepalive.sql): cur_slot_id text,
--   cur_token bigint, cur_expiry text ('max_runtime' / 'timeout' if overdue), ended_slot_id text,
--   ended_token bigint, ended_reason text (its tombstone)
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_end_v1(
  scheduler_name text,
  task_ids text[],
  tokens bigint[],            -- null elements: whichever occupancy holds the task
  reasons text[],
  statuses text[],
  errors text[],
  deliverables jsonb[],       -- each a JSON array of the backends the caller can deliver
  notifies boolean[],
  reserve_owners text[],      -- null elements: free the slot
  reserve_leases_ms bigint[], -- ignored where the owner is null
  outbox_limit bigint,
  events_channel text,
  token_sequence regclass
) RETURNS TABLE (
  ord integer, acted boolean, ended jsonb, delivered boolean, reserved_token bigint,
  cur_slot_id text, cur_token bigint, cur_expiry text,
  ended_slot_id text, ended_token bigint, ended_reason text
)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  now_ms bigint := floor(extract(epoch FROM now()) * 1000)::bigint;
  n integer := coalesce(cardinality(task_ids), 0);
  max_attempts constant integer := 5;
  hit record;
  end_reason text;
BEGIN
  IF coalesce(cardinality(tokens), 0) <> n OR coalesce(cardinality(reasons), 0) <> n
     OR coalesce(cardinality(statuses), 0) <> n OR coalesce(cardinality(errors), 0) <> n
     OR coalesce(cardinality(deliverables), 0) <> n OR coalesce(cardinality(notifies), 0) <> n
     OR coalesce(cardinality(reserve_owners), 0) <> n OR coalesce(cardinality(reserve_leases_ms), 0) <> n THEN
    RAISE EXCEPTION 'task_semaphore_end_v1: the request arrays differ in length';
  END IF;
  FOR i IN 1 .. n LOOP
    -- Output columns keep their values between rows: clear them for each request.
    ord := i;
    ended := NULL; delivered := NULL; reserved_token := NULL;
    cur_slot_id := NULL; cur_token := NULL; cur_expiry := NULL;
    ended_slot_id := NULL; ended_token := NULL; ended_reason := NULL;

    FOR attempt IN 1 .. max_attempts LOOP
      -- Locked first: the lock re-reads the row, so the record carries its current values (e.g. a
      -- keepalive or cancel request that committed while this waited).
      SELECT s.* INTO hit
      FROM __SCHEMA__.task_semaphore_slots AS s
      WHERE s.scheduler = scheduler_name
        AND s.task_id = task_ids[i]
        AND s.status = 'running'
        AND (tokens[i] IS NULL OR s.token = tokens[i])
        AND s.deadline > now_ms
        AND (s.max_deadline IS NULL OR s.max_deadline > now_ms)
      FOR UPDATE OF s;
      acted := FOUND;
      EXIT WHEN acted;

      -- Where the task is, from one snapshot taken after the lock attempt.
      SELECT cur.slot_id, cur.token,
             CASE WHEN cur.max_deadline <= now_ms THEN 'max_runtime'
                  WHEN cur.deadline <= now_ms THEN 'timeout' END,
             e.slot_id, e.token, e.reason
      INTO cur_slot_id, cur_token, cur_expiry, ended_slot_id, ended_token, ended_reason
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN __SCHEMA__.task_semaphore_slots AS cur
        ON cur.scheduler = scheduler_name AND cur.task_id = task_ids[i]
      LEFT JOIN __SCHEMA__.task_semaphore_ended AS e
        ON e.scheduler = scheduler_name AND e.task_id = task_ids[i];
      -- Not live and matching: the request cannot act, and the row says why.
      EXIT WHEN cur_slot_id IS NULL OR cur_expiry IS NOT NULL OR (tokens[i] IS NOT NULL AND cur_token <> tokens[i]);
      IF attempt = max_attempts THEN
        RAISE EXCEPTION 'task "%" kept changing under % attempts', task_ids[i], max_attempts
          USING ERRCODE = 'TS001', DETAIL = task_ids[i];
      END IF;
    END LOOP;

    IF acted THEN
      cur_slot_id := NULL; cur_token := NULL; cur_expiry := NULL;
      ended_slot_id := NULL; ended_token := NULL; ended_reason := NULL;
      end_reason := CASE WHEN reasons[i] = 'stopped' AND (hit.cancel_requested OR statuses[i] = 'cancelled')
                         THEN 'cancelled' ELSE reasons[i] END;
      -- nextval() sits in a CASE so that only an end that keeps the slot takes a token.
      UPDATE __SCHEMA__.task_semaphore_slots AS s
      SET status = CASE WHEN reserve_owners[i] IS NULL THEN 'idle' ELSE 'reserved' END,
          token = CASE WHEN reserve_owners[i] IS NULL THEN s.token ELSE nextval(token_sequence) END,
          owner = reserve_owners[i],
          lease_until = CASE WHEN reserve_owners[i] IS NOT NULL THEN now_ms + reserve_leases_ms[i] END,
          task_id = NULL, backend = NULL,
          started_at = NULL, last_keepalive_at = NULL, deadline = NULL, max_deadline = NULL,
          timeout_ms = NULL, max_runtime_ms = NULL, cancel_requested = false
      WHERE s.scheduler = scheduler_name AND s.slot_id = hit.slot_id
      RETURNING CASE WHEN reserve_owners[i] IS NOT NULL THEN s.token END INTO reserved_token;

      ended := jsonb_build_object(
        'slotId', hit.slot_id, 'token', hit.token, 'taskId', hit.task_id, 'backend', hit.backend,
        'owner', hit.owner, 'startedAt', hit.started_at, 'lastKeepaliveAt', hit.last_keepalive_at,
        'deadline', hit.deadline, 'maxDeadline', hit.max_deadline, 'timeoutMs', hit.timeout_ms,
        'maxRuntimeMs', hit.max_runtime_ms, 'cancelRequested', hit.cancel_requested,
        'reason', end_reason, 'endedAt', now_ms, 'status', statuses[i], 'error', errors[i]);
      -- jsonb ? text: the array holds that string.
      delivered := coalesce(deliverables[i] ? hit.backend, false);

      INSERT INTO __SCHEMA__.task_semaphore_ended AS e (scheduler, task_id, slot_id, token, reason, ended_at)
      VALUES (scheduler_name, hit.task_id, hit.slot_id, hit.token, end_reason, now_ms)
      ON CONFLICT (scheduler, task_id) DO UPDATE
      SET slot_id = excluded.slot_id, token = excluded.token, reason = excluded.reason, ended_at = excluded.ended_at;

      IF NOT delivered THEN
        -- Existing entries beyond the limit once the record is appended. SKIP LOCKED: an entry a
        -- pass is taking is on its way out anyway, and waiting could deadlock.
        DELETE FROM __SCHEMA__.task_semaphore_outbox AS o
        WHERE o.id IN (
          SELECT l.id FROM __SCHEMA__.task_semaphore_outbox AS l
          WHERE l.id IN (
            SELECT d.id FROM __SCHEMA__.task_semaphore_outbox AS d
            WHERE d.scheduler = scheduler_name
            ORDER BY d.id DESC
            OFFSET greatest(outbox_limit - 1, 0))
          FOR UPDATE SKIP LOCKED);
        IF outbox_limit > 0 THEN
          INSERT INTO __SCHEMA__.task_semaphore_outbox (scheduler, backend, record)
          VALUES (scheduler_name, hit.backend, ended);
        END IF;
      END IF;

      -- Sent at commit, so only an end that took effect is announced; a kept slot is not free.
      IF notifies[i] AND reserve_owners[i] IS NULL THEN
        PERFORM pg_notify(events_channel,
          json_build_object('scheduler', scheduler_name, 'type', 'freed', 'slotId', hit.slot_id)::text);
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;
