-- start-many: turns reservations into running occupancies of tasks, one request after the other in
-- the order given (a later request sees what an earlier one did), in one call of
-- task_semaphore_start_v4 (migrate-008.sql): one round trip, one transaction. Each request acts
-- only if its slot is still reserved under its token, the lease has not lapsed, and no slot of the
-- scheduler name holds the task id. SQLSTATE 23505 on task_semaphore_slots_task_uidx (a concurrent
-- start of one of the task ids committed first) or 40P01 (a deadlock with another batch) leaves
-- nothing applied: the caller runs the call again.
--
-- Parameters, one array element per request:
--   $1 text      scheduler name
--   $2 text[]    slot ids
--   $3 bigint[]  tokens of the reservations
--   $4 text[]    task ids
--   $5 text[]    backends
--   $6 bigint[]  timeout ms
--   $7 bigint[]  max runtime ms, null elements for no cap
--   $8 boolean[] process lease: the timeout is the process lease of a task run in the caller's
--                process (kept for the history)
-- Returns one row per request, in request order:
--   ord int                    the request's position, from 1
--   reservation_valid boolean  the reservation held when the request was looked at
--   holder text                slot holding the task id then, or null
--   occupancy jsonb            the Occupancy if it started, else null
--   holder_expires_at bigint   with a holder: when its occupancy ends by itself (ms), else null
--   now_ms bigint              the database clock the requests were judged by (ms)
SELECT r.ord, r.reservation_valid, r.holder, r.occupancy, r.holder_expires_at, r.now_ms
FROM __SCHEMA__.task_semaphore_start_v4(
  $1::text, $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::boolean[]
) AS r
ORDER BY r.ord;
