-- migrate-001: the slot tables. Idempotent; run by init() under migrations-lock.
-- Parameters: none (several statements). Returns: nothing.
--
-- Every time is a bigint of milliseconds since the epoch on the database clock, taken as
-- floor(extract(epoch FROM now()) * 1000): the contract's unit, compared with integer arithmetic
-- exactly as the memory store compares them. Rows of several scheduler names share the tables.

-- One row per slot. An idle slot keeps only its last token; a reserved slot adds owner and
-- lease_until; a running slot adds the occupancy columns (lease_until is then null).
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_slots (
  scheduler text NOT NULL,
  slot_id text NOT NULL,
  status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'reserved', 'running')),
  -- Last fencing token handed out for this slot (0: never reserved).
  token bigint NOT NULL DEFAULT 0,
  owner text,
  lease_until bigint,
  task_id text,
  backend text,
  started_at bigint,
  last_keepalive_at bigint,
  deadline bigint,
  max_deadline bigint,
  timeout_ms bigint,
  max_runtime_ms bigint,
  cancel_requested boolean NOT NULL DEFAULT false,
  PRIMARY KEY (scheduler, slot_id),
  CONSTRAINT task_semaphore_slots_reserved_check
    CHECK (status <> 'reserved' OR (owner IS NOT NULL AND lease_until IS NOT NULL)),
  CONSTRAINT task_semaphore_slots_running_check
    CHECK ((status = 'running') = (task_id IS NOT NULL)),
  CONSTRAINT task_semaphore_slots_occupancy_check
    CHECK (task_id IS NULL OR (backend IS NOT NULL AND started_at IS NOT NULL AND deadline IS NOT NULL
                               AND timeout_ms IS NOT NULL))
);

-- The arbiter of "a task id occupies at most one slot": two concurrent starts of one task id in two
-- slots cannot both commit; the loser gets SQLSTATE 23505 on this index.
CREATE UNIQUE INDEX IF NOT EXISTS task_semaphore_slots_task_uidx
  ON __SCHEMA__.task_semaphore_slots (scheduler, task_id) WHERE task_id IS NOT NULL;

-- Tombstones: what is kept of a task once its occupancy ended, to answer timed_out or ended
-- rather than unknown, until beginPass prunes it after retentionMs.
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_ended (
  scheduler text NOT NULL,
  task_id text NOT NULL,
  slot_id text NOT NULL,
  token bigint NOT NULL,
  reason text NOT NULL,
  ended_at bigint NOT NULL,
  PRIMARY KEY (scheduler, task_id)
);

CREATE INDEX IF NOT EXISTS task_semaphore_ended_time_idx
  ON __SCHEMA__.task_semaphore_ended (scheduler, ended_at);

-- Ended records (EndedOccupancy as JSON) whose callbacks the scheduler that ended them could not
-- run; a later beginPass of a scheduler that has the backend takes them. Oldest first by id.
CREATE TABLE IF NOT EXISTS __SCHEMA__.task_semaphore_outbox (
  id bigserial PRIMARY KEY,
  scheduler text NOT NULL,
  backend text NOT NULL,
  record jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS task_semaphore_outbox_scheduler_idx
  ON __SCHEMA__.task_semaphore_outbox (scheduler, id);

-- Fencing tokens, shared by every scheduler name of the schema: they only grow.
CREATE SEQUENCE IF NOT EXISTS __SCHEMA__.task_semaphore_token;
