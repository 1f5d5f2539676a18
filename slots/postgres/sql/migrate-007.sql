-- migrate-007: the acquire queue; the functions behind acquire.sql and leave-queue.sql; and
-- task_semaphore_end_v4 and task_semaphore_release_v1, behind end-many.sql and release.sql from
-- this migration on, which grant what they free, as begin-pass.sql does. Idempotent; run by
-- init() under migrations-lock.
-- Parameters: none (several statements). Returns: nothing.
--
-- acquire() takes an idle slot for a task the caller already holds, in one call; failing that, it
-- may wait in the scheduler name's queue. Whenever a slot turns idle (an end, a release, a pass
-- reaping it or finding it idle, an acquire finding it idle) the statement that holds it gives it,
-- in the same transaction, to the first live waiter, in arrival order, whose request lists it
-- (task_semaphore_grant_v1).
--
-- Locks, in the order every caller takes them, so that none waits for a lock while holding one a
-- later step takes: the slot rows first (an end or release its own, a pass with SKIP LOCKED, an
-- acquire all it lists, in slot id order), then the queue of the name, a transaction-scoped
-- advisory lock, taken only where waiters exist or a request joins them. Whoever holds a slot row
-- and leaves it idle gives it to the waiters: an acquire that queues for a slot held it while it
-- looked, so it saw the slot's last state, and a later end, release or pass of that slot, locking
-- it after the acquire committed, sees the waiter in its next snapshot. The queue lock orders the
-- grants of one name, so one waiter is never granted twice, and no two of them deadlock on the
-- waiter rows. Where no one waits, all a grant costs is one EXISTS on this table's index: the
-- functions check it before they call task_semaphore_grant_v1 (whose SET clause costs more).
--
-- Processes of an earlier release sharing the schema grant nothing (task_semaphore_end_v3 stays
-- theirs): a slot they free idle goes to the waiters at the next pass or acquire of this release
-- that finds it.

-- One row per waiting request. Times in ms on the database clock, as migrate-001.sql describes.
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_waiters (
  scheduler text NOT NULL,
  task_id text NOT NULL,
  -- Arrival order: a renewal keeps it, a request queued again after its entry lapsed gets a new one.
  seq bigint GENERATED ALWAYS AS IDENTITY,
  owner text NOT NULL,
  backend text NOT NULL,
  -- The occupancy it gets runs on a process lease (see migrate-006.sql).
  process_lease boolean NOT NULL,
  -- The entry lapses then, unless its owner asks again; a lapsed entry is dropped when met.
  lease_until bigint NOT NULL,
  -- The slots it may take, in order of preference, and the limits of its occupancy in each, pairwise.
  slot_ids text[] NOT NULL,
  timeouts_ms bigint[] NOT NULL,
  max_runtimes_ms bigint[] NOT NULL, -- null elements: no runtime cap
  PRIMARY KEY (scheduler, task_id)
);

-- Grants and positions walk a name's waiters in arrival order.
CREATE INDEX IF NOT EXISTS task_semaphore_waiters_seq_idx
  ON __SCHEMA__.task_semaphore_waiters (scheduler, seq);

-- task_semaphore_occupancy_v1: the Occupancy of a running slot row, as JSON (the keys of
-- start-many.sql's occupancy).
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_occupancy_v1(s __SCHEMA__.task_semaphore_slots)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $task_semaphore$
  SELECT jsonb_build_object(
    'slotId', s.slot_id, 'token', s.token, 'taskId', s.task_id, 'backend', s.backend,
    'owner', s.owner, 'startedAt', s.started_at, 'lastKeepaliveAt', s.last_keepalive_at,
    'deadline', s.deadline, 'maxDeadline', s.max_deadline, 'timeoutMs', s.timeout_ms,
    'maxRuntimeMs', s.max_runtime_ms, 'cancelRequested', s.cancel_requested)
$task_semaphore$;

-- task_semaphore_occupy_v1: starts a task in slot `slot`, which the caller holds locked and idle
-- (or reserved by its own transaction): reserved and started at once, now, under the next token,
-- with the columns a reservation and task_semaphore_start_v3 write (reserved_at now, no keepalives
-- yet, the process-lease flag). The tombstone start_v1 deletes is not touched: nothing reads it
-- (migrate-005.sql). Returns the Occupancy as JSON.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_occupy_v1(
  scheduler_name text,
  slot text,
  task text,
  task_backend text,
  task_owner text,
  limit_ms bigint,     -- the timeout
  runtime_ms bigint,   -- the max runtime, or null for no cap
  leased boolean,      -- the timeout is a process lease
  token_sequence regclass
) RETURNS jsonb
LANGUAGE sql VOLATILE AS $task_semaphore$
  WITH clock AS (
    SELECT floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
  )
  UPDATE __SCHEMA__.task_semaphore_slots AS s
  SET status = 'running', token = nextval(token_sequence), owner = task_owner, lease_until = NULL,
      task_id = task, backend = task_backend, started_at = c.now_ms, last_keepalive_at = c.now_ms,
      deadline = c.now_ms + limit_ms, max_deadline = c.now_ms + runtime_ms, timeout_ms = limit_ms,
      max_runtime_ms = runtime_ms, cancel_requested = false,
      reserved_at = c.now_ms, keepalives = 0, process_lease = leased
  FROM clock AS c
  WHERE s.scheduler = scheduler_name AND s.slot_id = slot
  RETURNING __SCHEMA__.task_semaphore_occupancy_v1(s)
$task_semaphore$;

-- task_semaphore_grant_v1: gives the slots `slot_ids`, in that order, to the waiters: each that is
-- idle, or reserved under its element of `tokens` (a reservation of the caller's own transaction,
-- which the grant replaces), goes to the first live waiter, by arrival, whose request lists it and
-- whose task holds no slot. The waiter's entry goes, its occupancy starts as task_semaphore_occupy_v1
-- writes it, and {"scheduler", "type": "granted", "taskId", "token", "slotId"} is published on
-- `events_channel` (sent at commit). Lapsed entries of the name are dropped on the way.
--
-- A candidate is locked with SKIP LOCKED: one the caller holds is its own, and one another
-- transaction holds will be given by that transaction if it leaves it idle. The queue lock is
-- taken after them (see above). Returns at once, having read one index entry, when the name has
-- no waiter. VOLATILE: called from a statement, its queries read fresh snapshots, which hold what
-- that statement changed before the call (the slots an end or a pass freed).
-- Custom plans, as every function here that joins a parameter array to a table: PL/pgSQL keeps
-- a generic plan after five calls, which knows no array's length, and one chose to scan the array
-- again for each slot row (21 s a pass at 10,000 slots, in task_semaphore_release_v1).
--
-- Returns one row per slot granted, in grant order: granted_slot text, granted_token bigint,
-- occupancy jsonb (the Occupancy started).
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_grant_v1(
  scheduler_name text,
  slot_ids text[],
  tokens bigint[],          -- pairwise with slot_ids; null (or missing) elements: idle slots only
  token_sequence regclass,
  events_channel text
) RETURNS TABLE (granted_slot text, granted_token bigint, occupancy jsonb)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
AS $task_semaphore$
DECLARE
  now_ms bigint := floor(extract(epoch FROM now()) * 1000)::bigint;
  idle text[];
  idle_tokens bigint[];
  locked text[];
  candidate text;
  waiter record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name) THEN
    RETURN;
  END IF;

  -- The candidates that are idle (or reserved by the caller), each once, at its first place. Where
  -- waiters wait, slots are seldom idle: most calls end here.
  SELECT array_agg(c.slot_id ORDER BY c.ord), array_agg(c.token ORDER BY c.ord) INTO idle, idle_tokens
  FROM (SELECT DISTINCT ON (u.slot_id) u.slot_id, u.token, u.ord
        FROM unnest(slot_ids, tokens) WITH ORDINALITY AS u(slot_id, token, ord)
        JOIN __SCHEMA__.task_semaphore_slots AS s ON s.scheduler = scheduler_name AND s.slot_id = u.slot_id
        WHERE s.status = 'idle' OR (s.status = 'reserved' AND s.token = u.token)
        ORDER BY u.slot_id, u.ord) AS c;
  IF idle IS NULL THEN
    RETURN;
  END IF;
  -- Many (a pass's): only those some live waiter lists, by one hash of all they list. A few (an
  -- end's): the loop below stops at the first waiter that lists each, most often the first.
  IF cardinality(idle) > 8 THEN
    SELECT array_agg(i.slot_id ORDER BY i.ord), array_agg(i.token ORDER BY i.ord) INTO idle, idle_tokens
    FROM unnest(idle, idle_tokens) WITH ORDINALITY AS i(slot_id, token, ord)
    WHERE i.slot_id IN (SELECT listed.slot_id
                        FROM __SCHEMA__.task_semaphore_waiters AS w, unnest(w.slot_ids) AS listed(slot_id)
                        WHERE w.scheduler = scheduler_name AND w.lease_until > now_ms);
    IF idle IS NULL THEN
      RETURN;
    END IF;
  END IF;
  -- Locked, skipping one another transaction holds: that one gives it if it leaves it idle. The
  -- lock checks each row again as it is now.
  SELECT array_agg(l.slot_id ORDER BY l.ord) INTO locked
  FROM (SELECT s.slot_id, i.ord
        FROM unnest(idle, idle_tokens) WITH ORDINALITY AS i(slot_id, token, ord)
        JOIN __SCHEMA__.task_semaphore_slots AS s ON s.scheduler = scheduler_name AND s.slot_id = i.slot_id
        WHERE s.status = 'idle' OR (s.status = 'reserved' AND s.token = i.token)
        FOR UPDATE OF s SKIP LOCKED) AS l;
  IF locked IS NULL THEN
    RETURN;
  END IF;

  PERFORM pg_advisory_xact_lock(token_sequence::oid::integer, hashtext(scheduler_name));
  DELETE FROM __SCHEMA__.task_semaphore_waiters AS w
  WHERE w.scheduler = scheduler_name AND w.lease_until <= now_ms;

  FOREACH candidate IN ARRAY locked LOOP
    -- The locked rows are as this transaction left them: only this loop changes them.
    SELECT w.* INTO waiter
    FROM __SCHEMA__.task_semaphore_waiters AS w
    WHERE w.scheduler = scheduler_name
      AND candidate = ANY (w.slot_ids)
      -- Its task started elsewhere meanwhile: the unique task index would refuse it a second slot.
      AND NOT EXISTS (SELECT 1 FROM __SCHEMA__.task_semaphore_slots AS h
                      WHERE h.scheduler = scheduler_name AND h.task_id = w.task_id)
    ORDER BY w.seq
    LIMIT 1;
    CONTINUE WHEN NOT FOUND;

    DELETE FROM __SCHEMA__.task_semaphore_waiters AS w
    WHERE w.scheduler = scheduler_name AND w.task_id = waiter.task_id;
    granted_slot := candidate;
    occupancy := __SCHEMA__.task_semaphore_occupy_v1(
      scheduler_name, candidate, waiter.task_id, waiter.backend, waiter.owner,
      waiter.timeouts_ms[array_position(waiter.slot_ids, candidate)],
      waiter.max_runtimes_ms[array_position(waiter.slot_ids, candidate)],
      waiter.process_lease, token_sequence);
    granted_token := (occupancy ->> 'token')::bigint;
    PERFORM pg_notify(events_channel, json_build_object(
      'scheduler', scheduler_name, 'type', 'granted', 'taskId', waiter.task_id,
      'token', granted_token, 'slotId', candidate)::text);
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;

-- task_semaphore_acquire_v1: one acquire (see acquire.sql). In order:
--   1. a request that may join the queue (it waits, and has no live entry to renew) locks the
--      listed slots, in slot id order, until it commits: an end, release or pass of one of them
--      then either sees it queued or is seen by it, and leaves no slot idle behind it. An entry
--      already queued is seen by them all: a renewal locks nothing. Should its entry be gone once
--      the queue lock is held (dropped as lapsed by a grant whose clock read later), the call
--      fails with SQLSTATE 40001, having changed nothing, and runs again;
--   2. take the queue lock when the name has waiters or the request may join them;
--   3. a task that holds a slot answers 'ok' to its owner (while the occupancy has not lapsed),
--      else 'duplicate' with the slot and when the occupancy ends by itself;
--   4. a live entry of the task by another owner answers 'duplicate' (no slot, its lease_until);
--   5. the listed slots that are idle go to the earlier waiters (the task's own entry among
--      them, in its place: then 'ok' with the slot granted); the first one left, in the request's
--      order, is taken (one another transaction holds locked is not idle), and the task's entry,
--      if any, goes: 'ok';
--   6. none: 'busy' without wait_ms; else the owner's live entry is renewed (keeping its place
--      and the request it made), or the request queued at the end (a lapsed entry of the task
--      dropped): 'queued', with its position among the live waiters (1: next).
--
-- Returns one row: outcome text ('ok', 'queued', 'busy', 'duplicate'); occupancy jsonb (ok);
-- queue_position bigint (queued); holder text (duplicate: the slot, or null for a waiting entry);
-- expires_at bigint (duplicate); now_ms bigint (the clock it was judged by). Custom plans: see
-- task_semaphore_grant_v1.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_acquire_v1(
  scheduler_name text,
  task text,
  task_backend text,
  task_owner text,
  slot_ids text[],
  timeouts_ms bigint[],
  max_runtimes_ms bigint[], -- null elements: no runtime cap
  leased boolean,
  wait_ms bigint,           -- null: do not wait
  token_sequence regclass,
  events_channel text
) RETURNS TABLE (
  outcome text, occupancy jsonb, queue_position bigint, holder text, expires_at bigint, now_ms bigint
)
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
AS $task_semaphore$
DECLARE
  n integer := coalesce(cardinality(slot_ids), 0);
  waiting boolean;
  renewing boolean;
  held __SCHEMA__.task_semaphore_slots;
  entry record;
  first_idle record;
BEGIN
  IF n = 0 THEN
    RAISE EXCEPTION 'task_semaphore_acquire_v1: a request lists at least one slot';
  END IF;
  IF coalesce(cardinality(timeouts_ms), 0) <> n OR coalesce(cardinality(max_runtimes_ms), 0) <> n THEN
    RAISE EXCEPTION 'task_semaphore_acquire_v1: the slot arrays differ in length';
  END IF;
  now_ms := floor(extract(epoch FROM now()) * 1000)::bigint;

  waiting := EXISTS (SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name);
  renewing := wait_ms IS NOT NULL AND EXISTS (
    SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w
    WHERE w.scheduler = scheduler_name AND w.task_id = task AND w.owner = task_owner AND w.lease_until > now_ms);
  IF wait_ms IS NOT NULL AND NOT renewing THEN
    PERFORM 1
    FROM __SCHEMA__.task_semaphore_slots AS s
    WHERE s.scheduler = scheduler_name AND s.slot_id = ANY (slot_ids)
    ORDER BY s.slot_id
    FOR UPDATE OF s;
  END IF;
  IF waiting OR wait_ms IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(token_sequence::oid::integer, hashtext(scheduler_name));
  END IF;

  SELECT s.* INTO held
  FROM __SCHEMA__.task_semaphore_slots AS s
  WHERE s.scheduler = scheduler_name AND s.task_id = task;
  IF FOUND THEN
    IF held.owner = task_owner AND held.deadline > now_ms AND coalesce(held.max_deadline > now_ms, true) THEN
      outcome := 'ok';
      occupancy := __SCHEMA__.task_semaphore_occupancy_v1(held);
    ELSE
      outcome := 'duplicate';
      holder := held.slot_id;
      -- least() skips a null max deadline.
      expires_at := least(held.deadline, held.max_deadline);
    END IF;
    RETURN NEXT;
    RETURN;
  END IF;

  SELECT w.owner, w.lease_until INTO entry
  FROM __SCHEMA__.task_semaphore_waiters AS w
  WHERE w.scheduler = scheduler_name AND w.task_id = task;
  IF FOUND AND entry.owner <> task_owner AND entry.lease_until > now_ms THEN
    outcome := 'duplicate';
    expires_at := entry.lease_until;
    RETURN NEXT;
    RETURN;
  END IF;

  IF waiting THEN
    PERFORM 1 FROM __SCHEMA__.task_semaphore_grant_v1(scheduler_name, slot_ids, NULL, token_sequence, events_channel);
    SELECT s.* INTO held
    FROM __SCHEMA__.task_semaphore_slots AS s
    WHERE s.scheduler = scheduler_name AND s.task_id = task;
  END IF;
  IF waiting AND held.slot_id IS NOT NULL THEN
    -- Its own entry was first for one of them (an entry of another owner was live, or dropped).
    outcome := 'ok';
    occupancy := __SCHEMA__.task_semaphore_occupancy_v1(held);
    RETURN NEXT;
    RETURN;
  END IF;

  SELECT u.slot_id, u.ord INTO first_idle
  FROM unnest(slot_ids) WITH ORDINALITY AS u(slot_id, ord)
  JOIN __SCHEMA__.task_semaphore_slots AS s ON s.scheduler = scheduler_name AND s.slot_id = u.slot_id
  WHERE s.status = 'idle'
  ORDER BY u.ord
  LIMIT 1
  FOR UPDATE OF s SKIP LOCKED;
  IF FOUND THEN
    DELETE FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name AND w.task_id = task;
    outcome := 'ok';
    occupancy := __SCHEMA__.task_semaphore_occupy_v1(
      scheduler_name, first_idle.slot_id, task, task_backend, task_owner, timeouts_ms[first_idle.ord],
      max_runtimes_ms[first_idle.ord], coalesce(leased, false), token_sequence);
    RETURN NEXT;
    RETURN;
  END IF;

  IF wait_ms IS NULL THEN
    outcome := 'busy';
    RETURN NEXT;
    RETURN;
  END IF;
  UPDATE __SCHEMA__.task_semaphore_waiters AS w
  SET lease_until = now_ms + wait_ms
  WHERE w.scheduler = scheduler_name AND w.task_id = task AND w.owner = task_owner AND w.lease_until > now_ms;
  IF NOT FOUND THEN
    IF renewing THEN
      RAISE EXCEPTION 'task "%": its queue entry went while it was renewed; run the call again', task
        USING ERRCODE = '40001';
    END IF;
    DELETE FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name AND w.task_id = task;
    INSERT INTO __SCHEMA__.task_semaphore_waiters (
      scheduler, task_id, owner, backend, process_lease, lease_until, slot_ids, timeouts_ms, max_runtimes_ms)
    VALUES (scheduler_name, task, task_owner, task_backend, coalesce(leased, false), now_ms + wait_ms,
            slot_ids, timeouts_ms, max_runtimes_ms);
  END IF;
  SELECT count(*) INTO queue_position
  FROM __SCHEMA__.task_semaphore_waiters AS w
  WHERE w.scheduler = scheduler_name
    AND w.lease_until > now_ms
    AND w.seq <= (SELECT o.seq FROM __SCHEMA__.task_semaphore_waiters AS o
                  WHERE o.scheduler = scheduler_name AND o.task_id = task);
  outcome := 'queued';
  RETURN NEXT;
END
$task_semaphore$;

-- task_semaphore_leave_queue_v1: removes the owner's entry of the task (see leave-queue.sql).
-- Under the queue lock, taken first: a grant that took the entry has committed, and the statement
-- after the lock sees its occupancy.
--
-- Returns one row: left_queue boolean (a live entry of the owner was removed); occupancy jsonb
-- when not: the occupancy of the task, if the owner holds one (granted while it waited), or null.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_leave_queue_v1(
  scheduler_name text,
  task text,
  task_owner text,
  token_sequence regclass
) RETURNS TABLE (left_queue boolean, occupancy jsonb)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  now_ms bigint := floor(extract(epoch FROM now()) * 1000)::bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(token_sequence::oid::integer, hashtext(scheduler_name));
  DELETE FROM __SCHEMA__.task_semaphore_waiters AS w
  WHERE w.scheduler = scheduler_name AND w.task_id = task AND w.owner = task_owner
  RETURNING w.lease_until > now_ms INTO left_queue;
  left_queue := coalesce(left_queue, false);
  IF NOT left_queue THEN
    SELECT __SCHEMA__.task_semaphore_occupancy_v1(s) INTO occupancy
    FROM __SCHEMA__.task_semaphore_slots AS s
    WHERE s.scheduler = scheduler_name AND s.task_id = task AND s.owner = task_owner;
  END IF;
  RETURN NEXT;
END
$task_semaphore$;

-- task_semaphore_end_v4: ends as task_semaphore_end_v3 (migrate-006.sql) does, by calling it, and
-- then gives the slot of each request that acted, in request order, to the waiters
-- (task_semaphore_grant_v1): a slot it freed, or the one it kept for the caller, whose reservation
-- the grant replaces (reserved_token is then null). The rows v3 locked stay locked, and v3 has
-- acted on every request before the first row comes back, so the grants read every end.
-- When the name has waiters as the call begins, the `freed` events of the requests that notify
-- are held back from v3 and sent here for the slots no waiter took; a waiter that queues while the
-- call runs may be announced a slot it then takes, a hint gone stale at once, as events may be.
--
-- Returns the rows of v3.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_end_v4(
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
  result record;
  held_back boolean := EXISTS (
    SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name);
  waiting boolean;
  slot text;
BEGIN
  FOR result IN
    SELECT * FROM __SCHEMA__.task_semaphore_end_v3(
      scheduler_name, task_ids, tokens, reasons, statuses, errors, deliverables,
      CASE WHEN held_back THEN array_fill(false, ARRAY[coalesce(cardinality(notifies), 0)]) ELSE notifies END,
      reserve_owners, reserve_leases_ms, outbox_limit, events_channel, token_sequence, history_on)
  LOOP
    ord := result.ord;
    acted := result.acted;
    ended := result.ended;
    delivered := result.delivered;
    reserved_token := result.reserved_token;
    cur_slot_id := result.cur_slot_id;
    cur_token := result.cur_token;
    cur_expiry := result.cur_expiry;
    ended_slot_id := result.ended_slot_id;
    ended_token := result.ended_token;
    ended_reason := result.ended_reason;
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
      ELSIF held_back AND notifies[ord] AND reserve_owners[ord] IS NULL THEN
        PERFORM pg_notify(events_channel,
          json_build_object('scheduler', scheduler_name, 'type', 'freed', 'slotId', ended ->> 'slotId')::text);
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;

-- task_semaphore_release_v1: sets idle the slots still reserved under the given tokens (any other
-- slot, reaped, reserved again under a later token or running, is left alone), then gives them,
-- in the order given, to the waiters (task_semaphore_grant_v1). Custom plans: see there.
--
-- Returns how many of them a waiter took.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_release_v1(
  scheduler_name text,
  slot_ids text[],
  tokens bigint[],  -- pairwise with slot_ids
  token_sequence regclass,
  events_channel text
) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_custom_plan
AS $task_semaphore$
DECLARE
  released text[];
  granted bigint := 0;
BEGIN
  WITH idle AS (
    UPDATE __SCHEMA__.task_semaphore_slots AS s
    SET status = 'idle', owner = NULL, lease_until = NULL
    FROM unnest(slot_ids, tokens) WITH ORDINALITY AS r(slot_id, token, ord)
    WHERE s.scheduler = scheduler_name
      AND s.slot_id = r.slot_id
      AND s.status = 'reserved'
      AND s.token = r.token
    RETURNING s.slot_id, r.ord
  )
  SELECT array_agg(i.slot_id ORDER BY i.ord) INTO released FROM idle AS i;
  IF released IS NOT NULL
     AND EXISTS (SELECT 1 FROM __SCHEMA__.task_semaphore_waiters AS w WHERE w.scheduler = scheduler_name) THEN
    SELECT count(*) INTO granted
    FROM __SCHEMA__.task_semaphore_grant_v1(scheduler_name, released, NULL, token_sequence, events_channel);
  END IF;
  RETURN granted;
END
$task_semaphore$;
