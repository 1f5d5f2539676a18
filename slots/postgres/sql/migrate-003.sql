-- migrate-003: task_semaphore_start_v2, the function behind start-many.sql from this migration on.
-- Idempotent (CREATE OR REPLACE); run by init() under migrations-lock.
-- Parameters: none (one statement). Returns: nothing.
--
-- It starts exactly as task_semaphore_start_v1 (migrate-002.sql, which explains the batch, the
-- snapshots and the 23505 retry), by calling it, and says more of a duplicate: when the occupancy
-- holding the task id ends by itself, and the clock that judged it. A backend that gets the task
-- back as a duplicate learns from them how long to wait before offering it again (a dead
-- process's occupancy holds the id until its deadline), instead of offering and claiming it in a
-- tight loop. v1 stays, for processes of an older library sharing the schema.
--
-- The holder's expiry is read once v1 has acted (a later statement, so a newer snapshot: it sees
-- what v1 did, e.g. a holder started by an earlier request of the batch). A holder that ended
-- meanwhile has no expiry left: its row gives now_ms, so the task may be offered again at once.
--
-- Returns one row per request, by ord (1-based):
--   reservation_valid boolean  the reservation held when the request was looked at
--   holder text                the slot holding the task id then, or null
--   occupancy jsonb            the started Occupancy, or null if it did not start
--   holder_expires_at bigint   with a holder: the earlier of its deadline and max deadline, else null
--   now_ms bigint              the clock every request of the call was judged by (now(), in ms)
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_start_v2(
  scheduler_name text,
  slot_ids text[],
  tokens bigint[],
  task_ids text[],
  backends text[],
  timeouts_ms bigint[],
  max_runtimes_ms bigint[] -- null elements: no runtime cap
) RETURNS TABLE (
  ord integer, reservation_valid boolean, holder text, occupancy jsonb, holder_expires_at bigint, now_ms bigint
)
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  started record;
BEGIN
  -- now() is the transaction's start, as in v1: the clock its requests were judged by.
  now_ms := floor(extract(epoch FROM now()) * 1000)::bigint;
  -- v1 returns its rows once it has acted on every request.
  FOR started IN
    SELECT * FROM __SCHEMA__.task_semaphore_start_v1(
      scheduler_name, slot_ids, tokens, task_ids, backends, timeouts_ms, max_runtimes_ms)
  LOOP
    ord := started.ord;
    reservation_valid := started.reservation_valid;
    holder := started.holder;
    occupancy := started.occupancy;
    holder_expires_at := NULL;
    IF holder IS NOT NULL THEN
      -- least() skips a null max deadline.
      SELECT coalesce(max(least(s.deadline, s.max_deadline)), now_ms) INTO holder_expires_at
      FROM __SCHEMA__.task_semaphore_slots AS s
      WHERE s.scheduler = scheduler_name AND s.slot_id = holder AND s.task_id = task_ids[ord];
    END IF;
    RETURN NEXT;
  END LOOP;
END
$task_semaphore$;
