-- migrate-009: task_semaphore_end_v6, behind end-many.sql from this migration on. Idempotent
-- (CREATE OR REPLACE); run by init() under migrations-lock. Parameters: none (several
-- statements). Returns: nothing.
--
-- Why: every start and end writes a new version of its slot's row, and each changes an indexed
-- column (task_id), so each version gets its own entry in the primary key, whose uniqueness
-- PostgreSQL checks against every entry of the same key. While some transaction may still see the
-- old versions (a report left open in the same database), nothing removes them, and every look
-- at a slot by its id, and every new version, reads them all. With a REPEATABLE READ snapshot held
-- open, the drain benchmark fell from 3,780 to 658 tasks/s; end_v5 and start_v4's three lookups by
-- slot id took 24 of end-many's 27 s (pg_stat_statements), and once they were gone, the
-- uniqueness checks of the remaining writes most of the rest (perf: _bt_check_unique). This
-- version writes less and looks less:
-- - An end that keeps its slot for a next task starts that task in the same write: one new
--   version of the row per task rather than two (reserved, then running). The next task is looked
--   at right after its request's end, as the SlotStore contract has each request act in turn and
--   the Redis store does: end_v5 and start_v4 started the next tasks only once every end of the
--   call was done. Where a waiter is queued for the name, the waiters still come first: the slot
--   is kept reserved, offered to them once every end holds its lock, and the next task started on
--   the reservation if none takes it, as before.
-- - Each end writes the row its own SELECT ... FOR UPDATE locked, by its address (ctid): a lock
--   held by this transaction keeps the row where it is.
-- Lookups by task id were already cheap: only running versions carry one in the task index.
-- The next tasks' arguments move from end-many.sql's second call (start_v4) into this function.
-- The earlier versions stay, for processes of an older library sharing the schema.

-- task_semaphore_end_v6: ends as task_semaphore_end_v5 (migrate-008.sql) does, and starts the
-- next task of each request that keeps its slot (next_task_ids; null elements, a null array, or a
-- null reserve owner: none), as start-many.sql would on the reservation. In three phases:
--   1. each request in order: lock and end its occupancy, its slot row written once, at the
--      address the lock found: freed, kept reserved, or, when it keeps the slot for a next task,
--      running that task under the reservation's token (a fused start). The next task is looked
--      at right after the request's own lock, as the request's own start would be: when another
--      slot holds it, it is refused as a duplicate and the slot stays reserved; when a waiter is
--      queued for the name, it is left to phase 3, since the waiters come first (phase 2);
--      otherwise it starts. A waiter that queues after that look found the slot busy, as it stays.
--      A fused start takes its task id's entry in the task index before the later requests lock
--      their slots (end_v5 and start_v4 took it last): two calls that carry one next task in
--      crossing orders can deadlock, and PostgreSQL fails one with 40P01, which the caller runs
--      again, as for any deadlock between batches.
--   2. as end_v5's second phase, once every end holds its slot's lock: the history records of the
--      call; each freed or kept slot, but those running a fused start, offered to the waiters
--      (a slot a waiter takes starts nothing, and refuses nothing); the `freed` events;
--   3. the next tasks left to it, of the kept reservations no waiter took, in request order,
--      through task_semaphore_start_v4 (which sees phases 1 and 2).
--
-- Returns end_v5's rows, in request order, and for a request with a next task its start's columns
-- (null without one): next_valid, next_holder, next_occupancy, next_expires_at and next_now, as
-- start-many.sql's reservation_valid, holder, occupancy, holder_expires_at and now_ms. A fused
-- start reports its reservation's token in reserved_token, as a start on a kept reservation does.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_end_v6(
  scheduler_name text,
  task_ids text[],
  tokens bigint[],              -- null elements: whichever occupancy holds the task
  reasons text[],
  statuses text[],
  errors text[],
  deliverables jsonb[],         -- each a JSON array of the backends the caller can deliver
  notifies boolean[],
  reserve_owners text[],        -- null elements: free the slot
  reserve_leases_ms bigint[],   -- ignored where the owner is null
  outbox_limit bigint,
  events_channel text,
  token_sequence regclass,
  history_on boolean,
  next_task_ids text[],         -- null elements (or a null array): no next task
  next_backends text[],
  next_timeouts_ms bigint[],
  next_max_runtimes_ms bigint[], -- null elements: no runtime cap
  next_process_leases boolean[]  -- null elements: false
) RETURNS TABLE (
  ord integer, acted boolean, ended jsonb, delivered boolean, reserved_token bigint,
  cur_slot_id text, cur_token bigint, cur_expiry text,
  ended_slot_id text, ended_token bigint, ended_reason text,
  next_valid boolean, next_holder text, next_occupancy jsonb, next_expires_at bigint, next_now bigint
)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  now_ms bigint := floor(extract(epoch FROM now()) * 1000)::bigint;
  n integer := coalesce(cardinality(task_ids), 0);
  max_attempts constant integer := 5;
  hit record;
  end_reason text;
  next_task text;
  fused boolean;
  queued boolean;
  -- Phase 1's rows for phases 2 and 3, one element per request.
  acted_a boolean[]; ended_a jsonb[]; delivered_a boolean[]; reserved_token_a bigint[]; fused_a boolean[];
  cur_slot_id_a text[]; cur_token_a bigint[]; cur_expiry_a text[];
  ended_slot_id_a text[]; ended_token_a bigint[]; ended_reason_a text[];
  next_valid_a boolean[]; next_holder_a text[]; next_occupancy_a jsonb[]; next_expires_at_a bigint[]; next_now_a bigint[];
  -- What the history keeps of each occupancy ended, one element per end.
  ends integer := 0;
  records jsonb[]; reserved_ats bigint[]; keepalive_counts bigint[]; leases boolean[];
  waiting boolean;
  slot text;
  -- Phase 3's starts, one element per start, and the request each belongs to.
  starts integer := 0;
  start_ords integer[]; start_slots text[]; start_tokens bigint[]; start_tasks text[]; start_backends text[];
  start_timeouts bigint[]; start_max_runtimes bigint[]; start_leases boolean[];
  st record;
BEGIN
  IF coalesce(cardinality(tokens), 0) <> n OR coalesce(cardinality(reasons), 0) <> n
     OR coalesce(cardinality(statuses), 0) <> n OR coalesce(cardinality(errors), 0) <> n
     OR coalesce(cardinality(deliverables), 0) <> n OR coalesce(cardinality(notifies), 0) <> n
     OR coalesce(cardinality(reserve_owners), 0) <> n OR coalesce(cardinality(reserve_leases_ms), 0) <> n
     OR (next_task_ids IS NOT NULL AND (cardinality(next_task_ids) <> n
         OR coalesce(cardinality(next_backends), 0) <> n OR coalesce(cardinality(next_timeouts_ms), 0) <> n
         OR coalesce(cardinality(next_max_runtimes_ms), 0) <> n)) THEN
    RAISE EXCEPTION 'task_semaphore_end_v6: the request arrays differ in length';
  END IF;

  FOR i IN 1 .. n LOOP
    ended := NULL; delivered := NULL; reserved_token := NULL; fused := false;
    cur_slot_id := NULL; cur_token := NULL; cur_expiry := NULL;
    ended_slot_id := NULL; ended_token := NULL; ended_reason := NULL;
    next_valid := NULL; next_holder := NULL; next_occupancy := NULL; next_expires_at := NULL; next_now := NULL;

    FOR attempt IN 1 .. max_attempts LOOP
      -- Locked first: the lock re-reads the row, so the record carries its current values (e.g. a
      -- keepalive or cancel request that committed while this waited), and row_at is where that
      -- version lies.
      SELECT s.*, s.ctid AS row_at INTO hit
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

      -- Where the task is, and the end kept of the occupancy asked about (by token; without one,
      -- the task's last), from one snapshot taken after the lock attempt.
      SELECT cur.slot_id, cur.token,
             CASE WHEN cur.max_deadline <= now_ms THEN 'max_runtime'
                  WHEN cur.deadline <= now_ms THEN 'timeout' END,
             e.slot_id, e.token, e.reason
      INTO cur_slot_id, cur_token, cur_expiry, ended_slot_id, ended_token, ended_reason
      FROM (VALUES (1)) AS one (x)
      LEFT JOIN __SCHEMA__.task_semaphore_slots AS cur
        ON cur.scheduler = scheduler_name AND cur.task_id = task_ids[i]
      LEFT JOIN LATERAL (
        SELECT o.slot_id, o.token, o.reason
        FROM __SCHEMA__.task_semaphore_occupancy_ends AS o
        WHERE o.scheduler = scheduler_name AND o.task_id = task_ids[i] AND (tokens[i] IS NULL OR o.token = tokens[i])
        ORDER BY o.token DESC
        LIMIT 1
      ) AS e ON true;
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
      next_task := CASE WHEN reserve_owners[i] IS NOT NULL THEN next_task_ids[i] END;
      IF next_task IS NOT NULL THEN
        -- Whether a waiter comes first, and which other slot holds the next task, in one statement.
        -- The slot's own row may still hold it (a task that runs again next): not another slot.
        SELECT EXISTS (SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name),
               h.slot_id, least(h.deadline, h.max_deadline)
        INTO queued, next_holder, next_expires_at
        FROM (VALUES (1)) AS one (x)
        LEFT JOIN __SCHEMA__.task_semaphore_slots AS h
          ON h.scheduler = scheduler_name AND h.task_id = next_task AND h.slot_id <> hit.slot_id;
        fused := NOT queued AND next_holder IS NULL;
        IF NOT queued AND next_holder IS NOT NULL THEN
          -- Refused as start-many.sql refuses a duplicate; the slot stays reserved.
          next_valid := true; next_now := now_ms;
        END IF;
      END IF;
      IF fused THEN
        -- The reservation and the start in one write: the reservation's token, owner and time,
        -- the start's occupancy (its keepalive count 0).
        UPDATE __SCHEMA__.task_semaphore_slots AS s
        SET status = 'running', token = nextval(token_sequence), owner = reserve_owners[i], lease_until = NULL,
            task_id = next_task, backend = next_backends[i], started_at = now_ms, last_keepalive_at = now_ms,
            deadline = now_ms + next_timeouts_ms[i], max_deadline = now_ms + next_max_runtimes_ms[i],
            timeout_ms = next_timeouts_ms[i], max_runtime_ms = next_max_runtimes_ms[i], cancel_requested = false,
            reserved_at = now_ms, keepalives = 0, process_lease = coalesce(next_process_leases[i], false)
        WHERE s.ctid = hit.row_at AND s.scheduler = scheduler_name AND s.slot_id = hit.slot_id
        RETURNING s.token, jsonb_build_object(
          'slotId', s.slot_id, 'token', s.token, 'taskId', s.task_id, 'backend', s.backend,
          'owner', s.owner, 'startedAt', s.started_at, 'lastKeepaliveAt', s.last_keepalive_at,
          'deadline', s.deadline, 'maxDeadline', s.max_deadline, 'timeoutMs', s.timeout_ms,
          'maxRuntimeMs', s.max_runtime_ms, 'cancelRequested', s.cancel_requested)
        INTO reserved_token, next_occupancy;
      ELSE
        -- nextval() sits in a CASE so that only an end that keeps the slot takes a token. A kept
        -- slot's reservation starts now; the keepalive count and the lease flag were the occupancy's.
        UPDATE __SCHEMA__.task_semaphore_slots AS s
        SET status = CASE WHEN reserve_owners[i] IS NULL THEN 'idle' ELSE 'reserved' END,
            token = CASE WHEN reserve_owners[i] IS NULL THEN s.token ELSE nextval(token_sequence) END,
            owner = reserve_owners[i],
            lease_until = CASE WHEN reserve_owners[i] IS NOT NULL THEN now_ms + reserve_leases_ms[i] END,
            task_id = NULL, backend = NULL,
            started_at = NULL, last_keepalive_at = NULL, deadline = NULL, max_deadline = NULL,
            timeout_ms = NULL, max_runtime_ms = NULL, cancel_requested = false,
            reserved_at = CASE WHEN reserve_owners[i] IS NOT NULL THEN now_ms END,
            keepalives = 0, process_lease = false
        WHERE s.ctid = hit.row_at AND s.scheduler = scheduler_name AND s.slot_id = hit.slot_id
        RETURNING CASE WHEN reserve_owners[i] IS NOT NULL THEN s.token END INTO reserved_token;
      END IF;
      IF NOT FOUND THEN
        -- The lock taken above keeps the row at its address until the transaction ends.
        RAISE EXCEPTION 'task_semaphore_end_v6: slot "%" moved while locked', hit.slot_id;
      END IF;

      ended := jsonb_build_object(
        'slotId', hit.slot_id, 'token', hit.token, 'taskId', hit.task_id, 'backend', hit.backend,
        'owner', hit.owner, 'startedAt', hit.started_at, 'lastKeepaliveAt', hit.last_keepalive_at,
        'deadline', hit.deadline, 'maxDeadline', hit.max_deadline, 'timeoutMs', hit.timeout_ms,
        'maxRuntimeMs', hit.max_runtime_ms, 'cancelRequested', hit.cancel_requested,
        'reason', end_reason, 'endedAt', now_ms, 'status', statuses[i], 'error', errors[i]);
      -- jsonb ? text: the array holds that string.
      delivered := coalesce(deliverables[i] ? hit.backend, false);

      -- An occupancy ends once: DO NOTHING only guards a replay.
      INSERT INTO __SCHEMA__.task_semaphore_occupancy_ends (scheduler, task_id, token, slot_id, reason, ended_at)
      VALUES (scheduler_name, hit.task_id, hit.token, hit.slot_id, end_reason, now_ms)
      ON CONFLICT (scheduler, task_id, token) DO NOTHING;

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

      ends := ends + 1;
      records[ends] := ended;
      reserved_ats[ends] := hit.reserved_at;
      keepalive_counts[ends] := hit.keepalives;
      leases[ends] := hit.process_lease;
    END IF;
    acted_a[i] := acted; ended_a[i] := ended; delivered_a[i] := delivered;
    reserved_token_a[i] := reserved_token; fused_a[i] := fused;
    cur_slot_id_a[i] := cur_slot_id; cur_token_a[i] := cur_token;
    cur_expiry_a[i] := cur_expiry; ended_slot_id_a[i] := ended_slot_id; ended_token_a[i] := ended_token;
    ended_reason_a[i] := ended_reason;
    IF fused THEN
      next_valid := true; next_now := now_ms;
    END IF;
    next_valid_a[i] := next_valid; next_holder_a[i] := next_holder; next_occupancy_a[i] := next_occupancy;
    next_expires_at_a[i] := next_expires_at; next_now_a[i] := next_now;
  END LOOP;

  IF history_on AND ends > 0 THEN
    INSERT INTO __SCHEMA__.task_semaphore_history AS h (
      scheduler, task_id, token, slot_id, backend, owner, reserved_at, started_at, last_keepalive_at,
      keepalives, ended_at, outcome, reason, status, error)
    SELECT scheduler_name, c.record ->> 'taskId', (c.record ->> 'token')::bigint, c.record ->> 'slotId',
           c.record ->> 'backend', c.record ->> 'owner', c.reserved_at, (c.record ->> 'startedAt')::bigint,
           (c.record ->> 'lastKeepaliveAt')::bigint, c.keepalives, (c.record ->> 'endedAt')::bigint,
           __SCHEMA__.task_semaphore_history_outcome_v1(
             c.record ->> 'reason', c.record ->> 'status', c.record ->> 'error', c.process_lease),
           c.record ->> 'reason', c.record ->> 'status', c.record ->> 'error'
    FROM unnest(records, reserved_ats, keepalive_counts, leases) AS c(record, reserved_at, keepalives, process_lease)
    -- An occupancy ends once: DO NOTHING only guards a replay.
    ON CONFLICT (scheduler, task_id, token) DO NOTHING;
  END IF;

  FOR i IN 1 .. n LOOP
    IF acted_a[i] AND NOT fused_a[i] THEN
      -- Looked at once every end has taken its slot's lock: a waiter that queued for one of them
      -- committed before that lock was taken.
      waiting := coalesce(waiting, EXISTS (
        SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name));
      slot := NULL;
      IF waiting THEN
        SELECT g.granted_slot INTO slot
        FROM __SCHEMA__.task_semaphore_grant_v1(
          scheduler_name, ARRAY[ended_a[i] ->> 'slotId'], ARRAY[reserved_token_a[i]], token_sequence, events_channel) AS g;
      END IF;
      IF slot IS NOT NULL THEN
        -- Nothing starts in a slot a waiter took, not even a refusal.
        reserved_token_a[i] := NULL;
        next_valid_a[i] := NULL; next_holder_a[i] := NULL; next_expires_at_a[i] := NULL; next_now_a[i] := NULL;
      ELSIF notifies[i] AND reserve_owners[i] IS NULL THEN
        -- Sent at commit, so only an end that took effect is announced; a kept slot is not free.
        PERFORM pg_notify(events_channel,
          json_build_object('scheduler', scheduler_name, 'type', 'freed', 'slotId', ended_a[i] ->> 'slotId')::text);
      END IF;
      IF reserved_token_a[i] IS NOT NULL AND next_task_ids[i] IS NOT NULL AND next_valid_a[i] IS NULL THEN
        starts := starts + 1;
        start_ords[starts] := i; start_slots[starts] := ended_a[i] ->> 'slotId';
        start_tokens[starts] := reserved_token_a[i]; start_tasks[starts] := next_task_ids[i];
        start_backends[starts] := next_backends[i]; start_timeouts[starts] := next_timeouts_ms[i];
        start_max_runtimes[starts] := next_max_runtimes_ms[i]; start_leases[starts] := next_process_leases[i];
      END IF;
    END IF;
  END LOOP;

  IF starts > 0 THEN
    FOR st IN
      SELECT * FROM __SCHEMA__.task_semaphore_start_v4(
        scheduler_name, start_slots, start_tokens, start_tasks, start_backends, start_timeouts,
        start_max_runtimes, start_leases)
    LOOP
      next_valid_a[start_ords[st.ord]] := st.reservation_valid;
      next_holder_a[start_ords[st.ord]] := st.holder;
      next_occupancy_a[start_ords[st.ord]] := st.occupancy;
      next_expires_at_a[start_ords[st.ord]] := st.holder_expires_at;
      next_now_a[start_ords[st.ord]] := st.now_ms;
    END LOOP;
  END IF;

  FOR i IN 1 .. n LOOP
    ord := i; acted := acted_a[i]; ended := ended_a[i]; delivered := delivered_a[i];
    reserved_token := reserved_token_a[i];
    cur_slot_id := cur_slot_id_a[i]; cur_token := cur_token_a[i];
    cur_expiry := cur_expiry_a[i]; ended_slot_id := ended_slot_id_a[i]; ended_token := ended_token_a[i];
    ended_reason := ended_reason_a[i];
    next_valid := next_valid_a[i]; next_holder := next_holder_a[i]; next_occupancy := next_occupancy_a[i];
    next_expires_at := next_expires_at_a[i]; next_now := next_now_a[i];
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;
