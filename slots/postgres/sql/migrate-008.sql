-- migrate-008: task_semaphore_start_v4 and task_semaphore_end_v5, behind start-many.sql and
-- end-many.sql from this migration on. Idempotent (CREATE OR REPLACE); run by init() under
-- migrations-lock. Parameters: none (several statements). Returns: nothing.
--
-- Why: each earlier version wrapped the one before it (end_v4 called v3, which called v2, which
-- called v1; start_v3 called v2, which called v1), each layer looping over the rows of the next
-- and running statements of its own per row. These two do the same work in one function each,
-- with the same arguments and rows, so the statements behind them change only the name. In the
-- drain benchmark (pg_stat_statements with track = all) end-many went from 4.5 to 3.1 ms a call
-- of 10 ends. The start builds its occupancy in the UPDATE itself: returning it through
-- task_semaphore_occupancy_v1(s) cost about 80 us a row there, eight times the UPDATE's own.
--
-- Where they differ from the versions they replace:
-- - No task_semaphore_ended tombstones: an end no longer writes one nor a start deletes one.
--   Nothing reads them since migrate-005.sql (task_semaphore_occupancy_ends answers), and
--   task_semaphore_occupy_v1 already left them alone; begin-pass.sql still prunes what is
--   there. Processes from before migrate-005 read them: they would miss the ends made here.
-- - A start writes the process-lease flag either way (v3 only ever set it): a flag left set by
--   a process from before migrate-006 no longer outlives the occupancy it belonged to.
-- - A request that cannot act reads where the task is and the end kept of the occupancy it
--   named in one snapshot, right after its own look (v2 read the end once every request of the
--   call had acted); a start reads a holder's expiry right after its own look likewise. Only a
--   transaction committing in between can tell.
-- - An end whose slot a waiter takes in the same call publishes `granted` only; with a waiter
--   that queued while the call ran, v4 published a stale `freed` before it.
-- The earlier versions stay, for processes of an older library sharing the schema.

-- task_semaphore_start_v4: starts as task_semaphore_start_v3 does (migrate-002.sql explains the
-- batch, the snapshots and the 23505 retry; migrate-003.sql the holder's expiry; migrate-006.sql
-- the process lease), each request's row written once. A holder's expiry is read right after its
-- own request looked: the later snapshot v2 relied on, and it sees the earlier requests' starts.
--
-- Returns one row per request, by ord (1-based): reservation_valid, holder, occupancy,
-- holder_expires_at and now_ms, as task_semaphore_start_v2 describes them.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_start_v4(
  scheduler_name text,
  slot_ids text[],
  tokens bigint[],
  task_ids text[],
  backends text[],
  timeouts_ms bigint[],
  max_runtimes_ms bigint[], -- null elements: no runtime cap
  process_leases boolean[]  -- null elements (or a null array): false
) RETURNS TABLE (
  ord integer, reservation_valid boolean, holder text, occupancy jsonb, holder_expires_at bigint, now_ms bigint
)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  n integer := coalesce(cardinality(slot_ids), 0);
BEGIN
  IF coalesce(cardinality(tokens), 0) <> n OR coalesce(cardinality(task_ids), 0) <> n
     OR coalesce(cardinality(backends), 0) <> n OR coalesce(cardinality(timeouts_ms), 0) <> n
     OR coalesce(cardinality(max_runtimes_ms), 0) <> n THEN
    RAISE EXCEPTION 'task_semaphore_start_v4: the request arrays differ in length';
  END IF;
  -- now() is the transaction's start: the clock every request of the call is judged by.
  now_ms := floor(extract(epoch FROM now()) * 1000)::bigint;
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
    holder_expires_at := NULL;
    IF reservation_valid AND holder IS NULL THEN
      -- The conditions again: the row may have changed since it was read (the update re-checks
      -- them on the row it locks). The keepalive count is 0 from the reservation on.
      UPDATE __SCHEMA__.task_semaphore_slots AS s
      SET status = 'running', lease_until = NULL, task_id = task_ids[i], backend = backends[i],
          started_at = now_ms, last_keepalive_at = now_ms, deadline = now_ms + timeouts_ms[i],
          max_deadline = now_ms + max_runtimes_ms[i], timeout_ms = timeouts_ms[i],
          max_runtime_ms = max_runtimes_ms[i], cancel_requested = false,
          process_lease = coalesce(process_leases[i], false)
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
    ELSIF holder IS NOT NULL THEN
      -- least() skips a null max deadline; a holder that ended meanwhile gives now_ms.
      SELECT coalesce(max(least(s.deadline, s.max_deadline)), now_ms) INTO holder_expires_at
      FROM __SCHEMA__.task_semaphore_slots AS s
      WHERE s.scheduler = scheduler_name AND s.slot_id = holder AND s.task_id = task_ids[i];
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;

-- task_semaphore_end_v5: ends as task_semaphore_end_v4 does (migrate-002.sql for one end alone,
-- the retries and TS001; migrate-005.sql for the ends kept per token; migrate-006.sql for the
-- history; migrate-007.sql for the grants and the `freed` events held back), in two phases:
--   1. each request in order: lock and end its occupancy, its slot row written once (freed or
--      kept reserved, with what the history needed cleared), its end kept, its outbox entry; a
--      request that cannot act reads where the task is and the end kept of the occupancy it
--      named, after its own look (so it sees the ends of the requests before it);
--   2. once every end holds its slot's lock: the history records of the call in one statement,
--      then each freed or kept slot offered to the waiters (task_semaphore_grant_v1) when the
--      name has any, and the `freed` events of the slots no waiter took.
--
-- Returns the rows of task_semaphore_end_v4, in request order.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_end_v5(
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
  token_sequence regclass,
  history_on boolean
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
  -- Phase 1's rows for phase 2, one element per request.
  acted_a boolean[]; ended_a jsonb[]; delivered_a boolean[]; reserved_token_a bigint[];
  cur_slot_id_a text[]; cur_token_a bigint[]; cur_expiry_a text[];
  ended_slot_id_a text[]; ended_token_a bigint[]; ended_reason_a text[];
  -- What the history keeps of each occupancy ended, one element per end.
  ends integer := 0;
  records jsonb[]; reserved_ats bigint[]; keepalive_counts bigint[]; leases boolean[];
  waiting boolean;
  slot text;
BEGIN
  IF coalesce(cardinality(tokens), 0) <> n OR coalesce(cardinality(reasons), 0) <> n
     OR coalesce(cardinality(statuses), 0) <> n OR coalesce(cardinality(errors), 0) <> n
     OR coalesce(cardinality(deliverables), 0) <> n OR coalesce(cardinality(notifies), 0) <> n
     OR coalesce(cardinality(reserve_owners), 0) <> n OR coalesce(cardinality(reserve_leases_ms), 0) <> n THEN
    RAISE EXCEPTION 'task_semaphore_end_v5: the request arrays differ in length';
  END IF;

  FOR i IN 1 .. n LOOP
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
    reserved_token_a[i] := reserved_token; cur_slot_id_a[i] := cur_slot_id; cur_token_a[i] := cur_token;
    cur_expiry_a[i] := cur_expiry; ended_slot_id_a[i] := ended_slot_id; ended_token_a[i] := ended_token;
    ended_reason_a[i] := ended_reason;
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
    ord := i; acted := acted_a[i]; ended := ended_a[i]; delivered := delivered_a[i];
    reserved_token := reserved_token_a[i]; cur_slot_id := cur_slot_id_a[i]; cur_token := cur_token_a[i];
    cur_expiry := cur_expiry_a[i]; ended_slot_id := ended_slot_id_a[i]; ended_token := ended_token_a[i];
    ended_reason := ended_reason_a[i];
    IF acted THEN
      -- Looked at once every end has taken its slot's lock: a waiter that queued for one of them
      -- committed before that lock was taken.
      waiting := coalesce(waiting, EXISTS (
        SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name));
      slot := NULL;
      IF waiting THEN
        SELECT g.granted_slot INTO slot
        FROM __SCHEMA__.task_semaphore_grant_v1(
          scheduler_name, ARRAY[ended ->> 'slotId'], ARRAY[reserved_token], token_sequence, events_channel) AS g;
      END IF;
      IF slot IS NOT NULL THEN
        reserved_token := NULL;
      ELSIF notifies[ord] AND reserve_owners[ord] IS NULL THEN
        -- Sent at commit, so only an end that took effect is announced; a kept slot is not free.
        PERFORM pg_notify(events_channel,
          json_build_object('scheduler', scheduler_name, 'type', 'freed', 'slotId', ended ->> 'slotId')::text);
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;
