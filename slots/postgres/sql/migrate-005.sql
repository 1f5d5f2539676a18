-- migrate-005: the end of each occupancy, kept per token; and task_semaphore_end_v2, the function
-- behind end-many.sql from this migration on. Idempotent; run by init() under migrations-lock.
-- Parameters: none (several statements). Returns: nothing.
--
-- Why per token: task_semaphore_ended keeps one tombstone per task id, and a start drops it. A
-- process that still holds an earlier occupancy of a task that ran again could then not tell
-- whether that occupancy ended (another process delivered its end: forget the task) or the store
-- lost it (deliver `lost` here), and took it for ended: after a state loss, its task was never
-- told. A token asked about now finds the end of that very occupancy, or nothing (unknown).
--
-- task_semaphore_ended stays for task_semaphore_end_v1, which still writes it; no statement reads
-- it any more, and begin-pass.sql prunes it.
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_occupancy_ends (
  scheduler text NOT NULL,
  task_id text NOT NULL,
  token bigint NOT NULL,
  slot_id text NOT NULL,
  reason text NOT NULL,
  ended_at bigint NOT NULL,
  PRIMARY KEY (scheduler, task_id, token)
);

-- Passes prune the ends older than the retention.
CREATE INDEX IF NOT EXISTS task_semaphore_occupancy_ends_time_idx
  ON __SCHEMA__.task_semaphore_occupancy_ends (scheduler, ended_at);

-- The tombstones kept so far are the last ends of their tasks.
INSERT INTO __SCHEMA__.task_semaphore_occupancy_ends (scheduler, task_id, token, slot_id, reason, ended_at)
SELECT e.scheduler, e.task_id, e.token, e.slot_id, e.reason, e.ended_at
FROM __SCHEMA__.task_semaphore_ended AS e
ON CONFLICT (scheduler, task_id, token) DO NOTHING;

-- task_semaphore_occupancy_end_v1: the end kept of task $2's occupancy under token $3 (null:
-- of its last occupancy), as at most one row (slot_id, token, reason). STABLE: in a statement, it
-- reads that statement's snapshot, as a join would.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_occupancy_end_v1(scheduler_name text, task text, asked_token bigint)
RETURNS TABLE (slot_id text, token bigint, reason text)
LANGUAGE sql STABLE AS $task_semaphore$
  SELECT o.slot_id, o.token, o.reason
  FROM __SCHEMA__.task_semaphore_occupancy_ends AS o
  WHERE o.scheduler = scheduler_name AND o.task_id = task AND (asked_token IS NULL OR o.token = asked_token)
  ORDER BY o.token DESC
  LIMIT 1
$task_semaphore$;

-- task_semaphore_end_v2: ends as task_semaphore_end_v1 (migrate-002.sql) does, by calling it, and
-- then keeps the end of each occupancy it ended in task_semaphore_occupancy_ends. A request that did not act gets
-- the end of the occupancy it named (by token; without one, the task's last) in the ended_*
-- columns, read after v1 acted on every request: a later snapshot than v1's look at the slots,
-- so an end v1 saw is there. v1 stays, for processes of an older library sharing the schema.
--
-- Returns the rows of v1, with ended_slot_id, ended_token and ended_reason as described above.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_end_v2(
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
  result record;
BEGIN
  -- v1 returns its rows once it has acted on every request.
  FOR result IN
    SELECT * FROM __SCHEMA__.task_semaphore_end_v1(
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
    ended_slot_id := NULL; ended_token := NULL; ended_reason := NULL;
    IF acted THEN
      -- An occupancy ends once: DO NOTHING only guards a replay.
      INSERT INTO __SCHEMA__.task_semaphore_occupancy_ends (scheduler, task_id, token, slot_id, reason, ended_at)
      VALUES (scheduler_name, ended ->> 'taskId', (ended ->> 'token')::bigint, ended ->> 'slotId',
              ended ->> 'reason', (ended ->> 'endedAt')::bigint)
      ON CONFLICT (scheduler, task_id, token) DO NOTHING;
    ELSE
      SELECT e.slot_id, e.token, e.reason INTO ended_slot_id, ended_token, ended_reason
      FROM __SCHEMA__.task_semaphore_occupancy_end_v1(scheduler_name, task_ids[ord], tokens[ord]) AS e;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;
