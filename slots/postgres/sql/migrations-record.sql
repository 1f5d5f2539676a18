-- migrations-record: notes a migration as applied.
-- Parameters: $1 int: the version.
-- Returns: nothing.
INSERT INTO __SCHEMA__.task_semaphore_migrations (version) VALUES ($1::int)
ON CONFLICT (version) DO NOTHING;
