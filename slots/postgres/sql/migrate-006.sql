-- migrate-006: the task history. Idempotent; run by init() under migrations-lock.
-- Parameters: none (several statements). Returns: nothing.
--
-- Each occupancy's record is written to task_semaphore_history in the same statement that ends
-- it: task_semaphore_end_v3 below (behind end-many.sql) and begin-pass.sql's reaping; passes
-- prune the records older than the retention. The slot row keeps, while it is reserved and then
-- running, what the record needs beyond the occupancy: when it was reserved, how many keepalives
-- renewed it, and whether it runs on a process lease.
--
-- Processes of the previous release sharing the schema go on with task_semaphore_start_v2 and
-- task_semaphore_end_v2, which stay: their ends write no history, and a slot they reserved
-- carries no reservation time (reserved_at) of its own, so its record may show an older one.

ALTER TABLE __SCHEMA__.task_semaphore_slots
  -- When the slot was reserved under its current token (begin-pass, or an end that kept it).
  ADD COLUMN IF NOT EXISTS reserved_at bigint,
  -- Keepalives that renewed the running occupancy (keepalive.sql).
  ADD COLUMN IF NOT EXISTS keepalives bigint NOT NULL DEFAULT 0,
  -- The occupancy's timeout is the process lease of a task run in its scheduler's process.
  ADD COLUMN IF NOT EXISTS process_lease boolean NOT NULL DEFAULT false;

-- One row per ended occupancy (a HistoryRecord; times in ms on the database clock).
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_history (
  scheduler text NOT NULL,
  task_id text NOT NULL,
  token bigint NOT NULL,
  slot_id text NOT NULL,
  backend text NOT NULL,
  owner text NOT NULL,
  reserved_at bigint,
  started_at bigint NOT NULL,
  last_keepalive_at bigint NOT NULL,
  keepalives bigint NOT NULL,
  ended_at bigint NOT NULL,
  -- task_semaphore_history_outcome_v1 of the four columns it reads, kept so that queries filter on it.
  outcome text NOT NULL,
  reason text NOT NULL,
  status text,
  error text,
  -- A task's records, by its id.
  PRIMARY KEY (scheduler, task_id, token)
);

-- Queries list the newest first; pruning walks the oldest first (see begin-pass.sql).
CREATE INDEX IF NOT EXISTS task_semaphore_history_started_idx
  ON __SCHEMA__.task_semaphore_history (scheduler, started_at, token);

-- task_semaphore_history_outcome_v1: the outcome of an ended occupancy, as historyOutcome in
-- src/contracts/history.ts has it (a test holds the two together): stopped is failed with an
-- error or status 'failed', else succeeded; cancelled; start_failed is failed; max_runtime is
-- timed_out, and so is timeout, unless the occupancy ran on a process lease (its process died,
-- stalled or gave it up): dropped; dropped, backend_removed and lost are dropped.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_history_outcome_v1(
  reason text, status text, error text, process_lease boolean
) RETURNS text
LANGUAGE sql IMMUTABLE AS $task_semaphore$
  SELECT CASE reason
    WHEN 'stopped' THEN CASE WHEN error IS NOT NULL OR status = 'failed' THEN 'failed' ELSE 'succeeded' END
    WHEN 'cancelled' THEN 'cancelled'
    WHEN 'start_failed' THEN 'failed'
    WHEN 'max_runtime' THEN 'timed_out'
    WHEN 'timeout' THEN CASE WHEN process_lease THEN 'dropped' ELSE 'timed_out' END
    ELSE 'dropped'
  END
$task_semaphore$;

-- task_semaphore_start_v3: starts as task_semaphore_start_v2 (migrate-003.sql) does, by calling
-- it, and marks the occupancies whose timeout is a process lease (process_leases[i]), in one
-- statement after v2 acted, only when a request asks. The keepalive count needs nothing: it is 0
-- from the reservation on (begin-pass.sql, task_semaphore_end_v3).
--
-- Returns the rows of v2.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_start_v3(
  scheduler_name text,
  slot_ids text[],
  tokens bigint[],
  task_ids text[],
  backends text[],
  timeouts_ms bigint[],
  max_runtimes_ms bigint[], -- null elements: no runtime cap
  process_leases boolean[]  -- null elements: false
) RETURNS TABLE (
  ord integer, reservation_valid boolean, holder text, occupancy jsonb, holder_expires_at bigint, now_ms bigint
)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  started record;
  leased text[] := '{}';
BEGIN
  FOR started IN
    SELECT * FROM __SCHEMA__.task_semaphore_start_v2(
      scheduler_name, slot_ids, tokens, task_ids, backends, timeouts_ms, max_runtimes_ms)
  LOOP
    ord := started.ord;
    reservation_valid := started.reservation_valid;
    holder := started.holder;
    occupancy := started.occupancy;
    holder_expires_at := started.holder_expires_at;
    now_ms := started.now_ms;
    IF occupancy IS NOT NULL AND coalesce(process_leases[ord], false) THEN
      leased := leased || slot_ids[ord];
    END IF;
    RETURN NEXT;
  END LOOP;
  IF cardinality(leased) > 0 THEN
    -- The rows v2 started: this transaction holds their locks.
    UPDATE __SCHEMA__.task_semaphore_slots AS s
    SET process_lease = true
    WHERE s.scheduler = scheduler_name AND s.slot_id = ANY (leased);
  END IF;
END
$task_semaphore$;

-- task_semaphore_end_v3: ends as task_semaphore_end_v2 (migrate-005.sql) does, by calling it, and
-- then, in one statement for the whole call, writes the history record of each occupancy it
-- ended (unless history_on is false) and clears what the slot row kept for it: the keepalive
-- count, the process-lease flag, and the reservation time (now, for a slot kept reserved for the
-- caller). v1 left those columns alone, and the rows stay locked by this transaction, so they
-- still hold the ended occupancy's values. No two ends of one call free the same slot: a slot
-- ended once is idle or reserved, and only a start makes it running again.
--
-- Returns the rows of v2.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_end_v3(
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
  freed_slots text[] := '{}';
  records jsonb[] := '{}';
  clock_ms bigint := floor(extract(epoch FROM now()) * 1000)::bigint;
BEGIN
  FOR result IN
    SELECT * FROM __SCHEMA__.task_semaphore_end_v2(
      scheduler_name, task_ids, tokens, reasons, statuses, errors, deliverables, notifies,
      reserve_owners, reserve_leases_ms, outbox_limit, events_channel, token_sequence)
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
      freed_slots := freed_slots || (ended ->> 'slotId');
      records := records || ended;
    END IF;
    RETURN NEXT;
  END LOOP;
  IF cardinality(freed_slots) > 0 THEN
    -- `o` is the row as v1 left it (this statement's snapshot); `s` gets the cleared columns.
    WITH cleared AS (
      UPDATE __SCHEMA__.task_semaphore_slots AS s
      SET reserved_at = CASE WHEN s.status = 'reserved' THEN clock_ms END, keepalives = 0, process_lease = false
      FROM __SCHEMA__.task_semaphore_slots AS o, unnest(freed_slots, records) AS e(slot_id, record)
      WHERE s.scheduler = scheduler_name AND s.slot_id = e.slot_id
        AND o.scheduler = scheduler_name AND o.slot_id = e.slot_id
      RETURNING e.record, o.reserved_at, o.keepalives, o.process_lease
    )
    INSERT INTO __SCHEMA__.task_semaphore_history AS h (
      scheduler, task_id, token, slot_id, backend, owner, reserved_at, started_at, last_keepalive_at,
      keepalives, ended_at, outcome, reason, status, error)
    SELECT scheduler_name, c.record ->> 'taskId', (c.record ->> 'token')::bigint, c.record ->> 'slotId',
           c.record ->> 'backend', c.record ->> 'owner', c.reserved_at, (c.record ->> 'startedAt')::bigint,
           (c.record ->> 'lastKeepaliveAt')::bigint, c.keepalives, (c.record ->> 'endedAt')::bigint,
           __SCHEMA__.task_semaphore_history_outcome_v1(
             c.record ->> 'reason', c.record ->> 'status', c.record ->> 'error', c.process_lease),
           c.record ->> 'reason', c.record ->> 'status', c.record ->> 'error'
    FROM cleared AS c
    WHERE history_on
    -- An occupancy ends once: DO NOTHING only guards a replay.
    ON CONFLICT (scheduler, task_id, token) DO NOTHING;
  END IF;
END
$task_semaphore$;
