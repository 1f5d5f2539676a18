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

-- task_semaphore_token_floor_v1: raises the schema's token sequence to the clock, in tenths of a
-- millisecond, when it is below: tokens keep growing past those handed out before the tables were
-- emptied, as long as the name took fewer than 10 a millisecond on average. Never lowers it:
-- concurrent raises take turns (an advisory lock held only while the sequence is read and set,
-- released inside, so that it is never held while the caller waits on anything else), each
-- reading the clock once it holds the lock. Security definer: setval() needs UPDATE on the
-- sequence, where nextval() needs only USAGE, and a role the owner granted no more than that must
-- still create slots; it touches no relation but the sequence of its own schema, named here, not
-- passed in. setval()'s WAL record is flushed at the commit of the transaction that calls it.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_token_floor_v1()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $task_semaphore$
DECLARE
  seq regclass := (SELECT s.tableoid FROM __SCHEMA__.task_semaphore_token AS s)::regclass;
  floor_value bigint;
  current_value bigint;
BEGIN
  PERFORM pg_advisory_lock(hashtext('task-semaphore:token-floor'), seq::oid::integer);
  BEGIN
    floor_value := floor(extract(epoch FROM clock_timestamp()) * 10000)::bigint;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE s.last_value - 1 END INTO current_value
    FROM __SCHEMA__.task_semaphore_token AS s;
    IF current_value < floor_value THEN
      PERFORM setval(seq, floor_value);
    END IF;
  EXCEPTION WHEN OTHERS THEN
    -- A session lock outlives the statement: never leave it held on a pooled connection.
    PERFORM pg_advisory_unlock(hashtext('task-semaphore:token-floor'), seq::oid::integer);
    RAISE;
  END;
  PERFORM pg_advisory_unlock(hashtext('task-semaphore:token-floor'), seq::oid::integer);
END
$task_semaphore$;

-- task_semaphore_slot_token_v1: the token of a slot row being created: the sequence raised to the
-- clock first (task_semaphore_token_floor_v1), then its next value, drawn with the caller's rights.
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_slot_token_v1(token_sequence regclass)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
BEGIN
  PERFORM __SCHEMA__.task_semaphore_token_floor_v1();
  RETURN nextval(token_sequence);
END
$task_semaphore$;
