-- migrations-state: whether the schema and its migrations table exist. Read after migrations-lock,
-- in its own statement so that its snapshot sees what a run that held the lock before committed.
-- (CREATE ... IF NOT EXISTS checks the CREATE privilege before existence, so a role that may not
-- create schemas or tables could not even run it against a schema already migrated.)
-- Parameters: $1 text: the schema name (unescaped).
-- Returns one row: has_schema boolean, has_table boolean.
SELECT n.oid IS NOT NULL AS has_schema, c.oid IS NOT NULL AS has_table
FROM (SELECT $1::text AS nspname) AS wanted
LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = wanted.nspname
LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = 'task_semaphore_migrations';
