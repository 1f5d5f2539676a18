-- migrate-010: the token floor and the tables' persistence (the store's `unlogged` option).
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

-- task_semaphore_set_persistence_v1: makes the store's tables of schema_name unlogged or logged
-- (ALTER TABLE ... SET UNLOGGED | LOGGED, which rewrites a table under an exclusive lock), those
-- not so already; returns the names of the tables changed. Left logged whatever the option: the
-- migrations table (what a schema holds must outlive a crash) and the token sequence (see above).
CREATE OR REPLACE FUNCTION __SCHEMA__.task_semaphore_set_persistence_v1(schema_name text, unlogged boolean)
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE AS $task_semaphore$
DECLARE
  wanted "char" := CASE WHEN unlogged THEN 'u' ELSE 'p' END;
  tbl text;
BEGIN
  FOR tbl IN
    SELECT c.relname
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = schema_name
      AND c.relkind = 'r'
      AND c.relname IN ('task_semaphore_slots', 'task_semaphore_ended', 'task_semaphore_outbox',
                        'task_semaphore_deliveries', 'task_semaphore_occupancy_ends',
                        'task_semaphore_history', 'task_semaphore_waiters')
      AND c.relpersistence <> wanted
    ORDER BY c.relname
  LOOP
    EXECUTE format('ALTER TABLE %I.%I SET %s', schema_name, tbl, CASE WHEN unlogged THEN 'UNLOGGED' ELSE 'LOGGED' END);
    RETURN NEXT tbl;
  END LOOP;
END
$task_semaphore$;
