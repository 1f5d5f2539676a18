-- acquire: takes a slot for a task the caller already holds, in one call of
-- task_semaphore_acquire_v1 (migrate-007.sql, which says what it does in order): the request's
-- first idle slot that no earlier waiter may take, started at once under a fresh token; or a place
-- in the scheduler name's queue, kept until now + $9 and renewed by the owner's next acquire; or
-- why neither. SQLSTATE 23505 on task_semaphore_slots_task_uidx (a start of the task id committed
-- meanwhile), 40P01 (a deadlock with a batch of ends, which lock their slots in request order) or
-- 40001 (the entry it renewed went meanwhile) leaves nothing applied: the caller runs the call again.
--
-- Parameters:
--   $1 text      scheduler name
--   $2 text      task id
--   $3 text      backend, recorded with the occupancy
--   $4 text      owner: the caller's scheduler instance
--   $5 text[]    slot ids it may take, in order of preference
--   $6 bigint[]  timeout ms of the occupancy in each, pairwise with $5
--   $7 bigint[]  max runtime ms in each, null elements for no cap
--   $8 boolean   process lease: the timeout is the process lease of a task run in the caller's process
--   $9 bigint    how long the request waits in the queue, ms; null: it does not wait
--   $10 regclass the token sequence
--   $11 text     events channel: {"scheduler", "type": "granted", "taskId", "token", "slotId"}
--                for each slot this call gives to an earlier waiter
-- Returns one row: outcome text ('ok', 'queued', 'busy', 'duplicate'); occupancy jsonb (ok);
--   queue_position bigint (queued); holder text (duplicate: the slot holding the task, or null for
--   another owner's waiting entry); expires_at bigint (duplicate: when that holder or entry lapses);
--   now_ms bigint (the database clock it was judged by).
SELECT a.outcome, a.occupancy, a.queue_position, a.holder, a.expires_at, a.now_ms
FROM __SCHEMA__.task_semaphore_acquire_v1(
  $1::text, $2::text, $3::text, $4::text, $5::text[], $6::bigint[], $7::bigint[], $8::boolean, $9::bigint,
  $10::regclass, $11::text
) AS a;
