-- end-many: ends running occupancies, one request after the other in the order given (a later
-- request sees what an earlier one did), in one call of task_semaphore_end_v6 (migrate-009.sql):
-- one round trip, one transaction. Each request acts as end does alone: see that function for
-- what it writes; the slots it frees or keeps go to the acquire queue's waiters first. In the
-- same statement, each delivered record of a request with a delivery owner is leased to that
-- owner in the delivery log (migrate-004.sql) until now + its lease, and the records the
-- requests acknowledge leave the log. SQLSTATE 40P01 (a deadlock with another batch) or 23505
-- on task_semaphore_slots_task_uidx (a waiter's task started elsewhere while it was granted)
-- leaves nothing applied: the caller runs the call again; TS001 (a task kept changing under 5
-- looks) leaves nothing applied either. The same call starts the next task of each request that
-- keeps its slot there, as start-many.sql would start it on that reservation: mostly in the end's
-- own write, else once every end is done (task_semaphore_end_v6 says when).
--
-- Then, also in the same statement, up to twice as many history records as there are requests are
-- deleted once past their retention ($18), the oldest first.
--
-- The acknowledged arrays and the history LIMIT sit behind scalar subqueries, which the planner
-- cannot fold into constants. A prepared statement is planned anew at each call for as long as a
-- plan made for its parameters looks cheaper than the generic one, and for a call of one or two
-- ends it always did: pg_stat_statements counted 1,372 plans in 1,370 such calls, 0.195 ms each,
-- a third of the statement's time in the server. Hidden so, the batch size changes no estimate,
-- and the generic plan is kept from the sixth call on (pg_prepared_statements: 7 generic plans in
-- 12 calls of one end), whatever the batch size. It runs as a custom one would: acknowledged
-- records are found one by one through the primary key (includes/delete-acknowledged.sql), and
-- history through its index.
--
-- Parameters, one array element per request except $11 to $13 and $18:
--   $1 text      scheduler name
--   $2 text[]    task ids
--   $3 bigint[]  tokens, null elements for whichever occupancy holds the task
--   $4 text[]    reasons
--   $5 text[]    statuses reported by the tasks, or nulls
--   $6 text[]    error messages, or nulls
--   $7 jsonb[]   deliverable backends, each a JSON array of names
--   $8 boolean[] notify: when the request acts without a reserve owner, and no waiter takes the
--                slot, publish {"scheduler", "type": "freed", "slotId"} on channel $12
--   $9 text[]    reserve owners: when the request acts, its slot becomes reserved by it (and
--                nothing is published: the slot is not free); null elements free the slot
--   $10 bigint[] lease ms of those reservations (ignored where the owner is null)
--   $11 bigint   outbox limit
--   $12 text     events channel (`freed` above; `granted` for each slot a waiter takes)
--   $13 regclass the token sequence (a parameter, so no schema name sits inside a string literal)
--   $14 text[]   delivery owners: when the request acts and delivered is true, the record is
--                leased to it in the delivery log; null elements (or a null array) log nothing
--   $15 bigint[] delivery lease ms (ignored where the owner is null)
--   $16 text[]   acknowledged task ids and $17 bigint[] their tokens, pairwise, of every request
--                together: their records leave the delivery log, whether or not the ends act
--   $18 bigint   history retention ms, or null for no history: with it, each occupancy ended
--                leaves its history record, and up to twice as many records as there are
--                requests that started and ended before now - $18 are deleted, as begin-pass.sql
--                deletes a bounded batch of them: a name that ends more tasks between two passes
--                than a pass deletes would otherwise keep ever more
--   $19 text[]   next task ids (EndRequest.next), null elements for none: started in the slot the
--                request kept; $20 text[] their backends, $21 bigint[] timeout ms, $22 bigint[]
--                max runtime ms (null elements: no cap), $23 boolean[] process lease
-- Returns one row per request, in request order:
--   ord int (the request's position, from 1); acted boolean; ended jsonb (the EndedOccupancy) and
--   delivered boolean when acted; reserved_token bigint: the reservation's token when it acted with
--   a reserve owner and no waiter took the slot, else null; and, when not acted, the lookup columns
--   described in keepalive.sql (the ended_* ones read by task_semaphore_end_v6 after the request's own look);
--   for a next task started or refused, next_valid, next_holder, next_occupancy, next_expires_at and
--   next_now: start-many.sql's columns for it (null when there was no next task to start).
WITH r AS MATERIALIZED (
  SELECT *
  FROM __SCHEMA__.task_semaphore_end_v6(
    $1::text, $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::boolean[],
    $9::text[], $10::bigint[], $11::bigint, $12::text, $13::regclass, $18::bigint IS NOT NULL,
    $19::text[], $20::text[], $21::bigint[], $22::bigint[], $23::boolean[]
  )
),
leased AS (
  -- Each occupancy ends once, so its key is new to the log; DO NOTHING only guards a replay.
  INSERT INTO __SCHEMA__.task_semaphore_deliveries AS d (scheduler, task_id, token, backend, owner, due_at, record)
  SELECT $1::text, r.ended ->> 'taskId', (r.ended ->> 'token')::bigint, r.ended ->> 'backend', ($14::text[])[r.ord],
         (r.ended ->> 'endedAt')::bigint + ($15::bigint[])[r.ord], r.ended
  FROM r
  WHERE r.acted AND r.delivered AND ($14::text[])[r.ord] IS NOT NULL
  ON CONFLICT (scheduler, task_id, token) DO NOTHING
),
acked AS (
  -- Each array behind a subquery, as the LIMIT below: see the note at the top.
  SELECT * FROM unnest((SELECT $16::text[]), (SELECT $17::bigint[])) AS a(task_id, token)
),
acknowledged AS (
  -- Records delivered before this call: none is among those the ends above log.
-- @include delete-acknowledged.sql
),
history_due AS MATERIALIZED (
  -- Locked here, deleted below by row address: nothing ever updates a history record, so no
  -- address moves in between.
  SELECT ARRAY(
    SELECT p.ctid
    FROM __SCHEMA__.task_semaphore_history AS p
    WHERE $18::bigint IS NOT NULL
      AND p.scheduler = $1::text
      AND p.started_at <= floor(extract(epoch FROM now()) * 1000)::bigint - $18::bigint
      AND p.ended_at <= floor(extract(epoch FROM now()) * 1000)::bigint - $18::bigint
    ORDER BY p.started_at, p.token
    LIMIT (SELECT 2 * coalesce(cardinality($2::text[]), 0))
    FOR UPDATE OF p SKIP LOCKED) AS tids
),
pruned_history AS (
  -- The cardinality test is decided once, before the table is read: with nothing due (the usual
  -- case) it is not, whatever plan the statement keeps; a plan made while the table was small
  -- would read it whole rather than by address. history_due itself reads the index range before
  -- the cutoff, which then holds only the entries of records deleted since the last vacuum.
  DELETE FROM __SCHEMA__.task_semaphore_history AS h
  WHERE cardinality((SELECT d.tids FROM history_due AS d)) > 0
    AND h.ctid = ANY ((SELECT d.tids FROM history_due AS d)::tid[])
)
SELECT r.ord, r.acted, r.ended, r.delivered, r.reserved_token,
       r.cur_slot_id, r.cur_token, r.cur_expiry, r.ended_slot_id, r.ended_token, r.ended_reason,
       r.next_valid, r.next_holder, r.next_occupancy, r.next_expires_at, r.next_now
FROM r
ORDER BY r.ord;
