-- persistence-state: how many of the store's tables are not of the persistence asked for (the
-- `unlogged` option); read by init() under migrations-lock, after the migrations, so that a store
-- whose tables are as asked takes no lock on them. Left logged whatever the option, and not
-- counted: the migrations table (what a schema holds must outlive a crash) and the token
-- sequence (migrate-010.sql).
-- Parameters: $1 text: the schema name (unescaped); $2 boolean: true for unlogged.
-- Returns one row: differing bigint.
SELECT count(*) AS differing
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1::text
  AND c.relkind = 'r'
  AND c.relname IN ('task_semaphore_slots', 'task_semaphore_ended', 'task_semaphore_outbox',
                    'task_semaphore_deliveries', 'task_semaphore_occupancy_ends',
                    'task_semaphore_history', 'task_semaphore_waiters')
  AND c.relpersistence <> CASE WHEN $2::boolean THEN 'u' ELSE 'p' END;
