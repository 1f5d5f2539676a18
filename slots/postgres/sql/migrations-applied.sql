-- migrations-applied: the migration versions already applied to this schema.
-- Parameters: none.
-- Returns: version int, one row per applied migration.
SELECT version FROM __SCHEMA__.task_semaphore_migrations ORDER BY version;
