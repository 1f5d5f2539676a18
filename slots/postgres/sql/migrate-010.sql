-- migrate-010: the token floor, for the store's `unlogged` option.
-- Idempotent (CREATE OR REPLACE); run by init() under migrations-lock. Parameters: none (several
-- statements). Returns: nothing.
--
-- Why: with `unlogged`, a crash of PostgreSQL empties the store's tables, as a restart without
-- persistence empties Redis. The token sequence stays logged, so it survives, but a value it
-- handed out may be: a sequence writes its WAL record once for 32 values, and a transaction that
-- writes only unlogged tables commits without waiting for the WAL flush, so after a crash the
-- sequence can resume below tokens that tasks still hold. A slot row created after such a loss
-- therefore raises the sequence to the clock, as the Redis store's counter starts from Redis TIME.

-- task_semaphore_token_floor_v1: raises token_sequence to the clock, in tenths of a millisecond,
-- when it is below: tokens keep growing past those handed out before the tables were emptied, as
-- long as the name took fewer than 10 a millisecond on average. Never lowers it; setval() is not
-- transactional, and its WAL record is flushed at the commit of the transaction that calls it.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_token_floor_v1(token_sequence regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  floor_value bigint := floor(extract(epoch FROM clock_timestamp()) * 10000)::bigint;
BEGIN
  IF coalesce(pg_sequence_last_value(token_sequence), 0) < floor_value THEN
    PERFORM setval(token_sequence, floor_value);
  END IF;
END
$task_semaphore$;

-- task_semaphore_slot_token_v1: the token of a slot row being created: the sequence raised to the
-- clock first (task_semaphore_token_floor_v1), then its next value.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_slot_token_v1(token_sequence regclass)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
BEGIN
  PERFORM __SCHEMA__.task_semaphore_token_floor_v1(token_sequence);
  RETURN nextval(token_sequence);
END
$task_semaphore$;
