-- migrate-004: the delivery log. Idempotent; run by init() under migrations-lock.
-- Parameters: none (several statements). Returns: nothing.
--
-- An ended record whose callbacks a caller will run is written here, in the same statement that
-- ended the occupancy (end-many.sql) or handed it out (begin-pass.sql), leased to that caller
-- until due_at (milliseconds on the database clock, as migrate-001.sql describes). The caller
-- deletes it once the callbacks ran (acknowledge.sql); a pass of any caller with the backend takes
-- it again once due_at passed, so a crash between the end and the callbacks loses nothing.
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_deliveries (
  scheduler text NOT NULL,
  task_id text NOT NULL,
  -- The token of the ended occupancy: with the task id, the record's idempotency key.
  token bigint NOT NULL,
  backend text NOT NULL,
  -- The caller the record is leased to, for inspection.
  owner text NOT NULL,
  due_at bigint NOT NULL,
  -- The EndedOccupancy as JSON.
  record jsonb NOT NULL,
  PRIMARY KEY (scheduler, task_id, token)
);

-- Passes look for lapsed leases, oldest due first.
CREATE INDEX IF NOT EXISTS task_semaphore_deliveries_due_idx
  ON __SCHEMA__.task_semaphore_deliveries (scheduler, due_at);
