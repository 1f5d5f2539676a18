-- migrations-prepare: the table of applied migration versions; run under migrations-lock when
-- migrations-state found it missing.
-- Parameters: none. Returns: nothing.
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_migrations (
  version int PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);
