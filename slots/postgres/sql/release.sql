-- release: sets idle the slots still reserved under the given tokens, and gives them to the
-- acquire queue's waiters, in one call of task_semaphore_release_v1 (migrate-007.sql); any other
-- slot (reaped, reserved again under a later token, running) is left alone. SQLSTATE 23505 on
-- task_semaphore_slots_task_uidx (a waiter's task started elsewhere while it was granted) or 40P01
-- leaves nothing applied: the caller runs the call again.
-- Parameters: $1 text: scheduler name; $2 text[]: slot ids; $3 bigint[]: tokens, pairwise with $2;
--   $4 regclass: the token sequence; $5 text: events channel of the grants (see begin-pass.sql).
-- Returns one row: granted bigint, how many of the slots a waiter took.
SELECT __SCHEMA__.task_semaphore_release_v1($1::text, $2::text[], $3::bigint[], $4::regclass, $5::text) AS granted;
