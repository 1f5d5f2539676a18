-- schema: a Procrastinate-compatible schema at level 3.4 (what Procrastinate 3.4.0 to 3.9.0 expect),
-- written for teams that run Procrastinate's data model without its Python package.
-- Parameters: none (many statements). Returns: nothing.
--
-- Every object is created unqualified, so it lands in the first existing schema of search_path,
-- and every function body names tables unqualified too, resolving them through the caller's
-- search_path: connect with the same search_path as the Python side. No BEGIN/COMMIT here:
-- applySchema() wraps it in one transaction; by hand, run `psql -1 -f schema.sql`.
--
-- Functions raise with SQLSTATE P0001 and a message ending in "(job id: N)". A status change, by
-- these functions or by a plain UPDATE, writes the event history through triggers (see below).

-- ---------------------------------------------------------------------------------------------
-- Types

-- 'aborting' is legacy (nothing writes it since 3.0) but stays, because existing rows and
-- Python's enum mapping may still name it.
CREATE TYPE procrastinate_job_status AS ENUM (
  'todo', 'doing', 'succeeded', 'failed', 'cancelled', 'aborting', 'aborted'
);

CREATE TYPE procrastinate_job_event_type AS ENUM (
  'deferred', 'started', 'deferred_for_retry', 'failed', 'succeeded', 'cancelled',
  'abort_requested', 'aborted', 'scheduled', 'retried'
);

-- One job to insert with procrastinate_defer_jobs_v1; field order is part of the contract,
-- since callers build it with ROW(...).
CREATE TYPE procrastinate_job_to_defer_v1 AS (
  queue_name character varying,
  task_name character varying,
  priority integer,
  lock text,
  queueing_lock text,
  args jsonb,
  scheduled_at timestamp with time zone
);

-- ---------------------------------------------------------------------------------------------
-- Tables

CREATE TABLE procrastinate_workers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  last_heartbeat timestamp with time zone NOT NULL DEFAULT now()
);

CREATE TABLE procrastinate_jobs (
  id bigserial PRIMARY KEY,
  queue_name character varying(128) NOT NULL,
  task_name character varying(128) NOT NULL,
  -- Larger runs first; may be negative.
  priority integer NOT NULL DEFAULT 0,
  -- Jobs sharing a lock run one at a time, in (priority DESC, id) order.
  lock text,
  -- At most one queued ('todo') job per queueing lock.
  queueing_lock text,
  args jsonb NOT NULL DEFAULT '{}',
  status procrastinate_job_status NOT NULL DEFAULT 'todo',
  -- NULL: as soon as possible.
  scheduled_at timestamp with time zone,
  -- Finished tries: +1 when a 'doing' job ends or is retried.
  attempts integer NOT NULL DEFAULT 0,
  abort_requested boolean NOT NULL DEFAULT false,
  -- Unregistering or pruning a worker keeps its jobs and forgets the worker.
  worker_id bigint REFERENCES procrastinate_workers (id) ON DELETE SET NULL,
  -- A queued job cannot carry an abort request: cancelling it ends it instead.
  CONSTRAINT check_not_todo_abort_requested CHECK (NOT (status = 'todo' AND abort_requested = true))
);

CREATE TABLE procrastinate_periodic_defers (
  id bigserial PRIMARY KEY,
  task_name character varying(128) NOT NULL,
  -- Unix seconds of the tick; together with the task and periodic id, one job per tick.
  defer_timestamp bigint,
  -- No ON DELETE action: procrastinate_trigger_delete_jobs_v1 unlinks the row first.
  job_id bigint REFERENCES procrastinate_jobs (id),
  periodic_id character varying(128) NOT NULL DEFAULT '',
  CONSTRAINT procrastinate_periodic_defers_unique UNIQUE (task_name, periodic_id, defer_timestamp)
);

CREATE TABLE procrastinate_events (
  id bigserial PRIMARY KEY,
  job_id bigint NOT NULL REFERENCES procrastinate_jobs (id) ON DELETE CASCADE,
  type procrastinate_job_event_type,
  at timestamp with time zone DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- Indexes. Names are part of the contract: clients recognise "already enqueued" by the 23505
-- on procrastinate_jobs_queueing_lock_idx_v1.

CREATE UNIQUE INDEX procrastinate_jobs_queueing_lock_idx_v1
  ON procrastinate_jobs (queueing_lock) WHERE status = 'todo';
-- Backs the fetch lock rule: should two fetches race past it, the second claim fails instead
-- of running two jobs of one lock at once.
CREATE UNIQUE INDEX procrastinate_jobs_lock_idx_v1
  ON procrastinate_jobs (lock) WHERE status = 'doing';
CREATE INDEX idx_procrastinate_jobs_worker_not_null
  ON procrastinate_jobs (worker_id) WHERE worker_id IS NOT NULL AND status = 'doing';
CREATE INDEX procrastinate_jobs_queue_name_idx_v1 ON procrastinate_jobs (queue_name);
CREATE INDEX procrastinate_jobs_id_lock_idx_v1
  ON procrastinate_jobs (id, lock) WHERE status IN ('todo', 'doing');
CREATE INDEX procrastinate_jobs_priority_idx_v1
  ON procrastinate_jobs (priority DESC, id ASC) WHERE status = 'todo';
CREATE INDEX procrastinate_events_job_id_fkey_v1 ON procrastinate_events (job_id);
CREATE INDEX procrastinate_periodic_defers_job_id_fkey_v1 ON procrastinate_periodic_defers (job_id);
CREATE INDEX idx_procrastinate_workers_last_heartbeat ON procrastinate_workers (last_heartbeat);

-- ---------------------------------------------------------------------------------------------
-- Deferring

-- Inserts one 'todo' job per element and returns their ids in the order of the input array,
-- which callers rely on to pair ids with what they deferred. Rows are inserted in array order
-- and take ids from one sequence in that order, so sorting the ids restores it.
CREATE FUNCTION procrastinate_defer_jobs_v1(jobs procrastinate_job_to_defer_v1[])
RETURNS bigint[]
LANGUAGE plpgsql
AS $$
DECLARE
  inserted_ids bigint[];
BEGIN
  WITH inserted AS (
    INSERT INTO procrastinate_jobs (queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at)
    -- Fields are taken as given: a NULL priority or args fails NOT NULL, as it would on a
    -- schema created by Procrastinate, so that a client bug does not pass only against ours.
    SELECT item.queue_name, item.task_name, item.priority, item.lock,
           item.queueing_lock, item.args, item.scheduled_at
    FROM unnest(jobs) WITH ORDINALITY AS item
    ORDER BY item.ordinality
    RETURNING id
  )
  SELECT array_agg(inserted.id ORDER BY inserted.id) INTO inserted_ids FROM inserted;
  RETURN inserted_ids;
END;
$$;

-- Defers the job of one periodic tick, once fleet-wide: the first caller to record
-- (task, periodic id, tick) gets the job id, every later caller NULL. Older ticks of the same
-- periodic task are forgotten. A queueing-lock conflict raises and undoes the record too.
CREATE FUNCTION procrastinate_defer_periodic_job_v2(
  _queue_name character varying,
  _lock character varying,
  _queueing_lock character varying,
  _task_name character varying,
  _priority integer,
  _periodic_id character varying,
  _defer_timestamp bigint,
  _args jsonb
)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  tick_id bigint;
  new_job_id bigint;
BEGIN
  INSERT INTO procrastinate_periodic_defers (task_name, periodic_id, defer_timestamp)
  VALUES (_task_name, _periodic_id, _defer_timestamp)
  ON CONFLICT ON CONSTRAINT procrastinate_periodic_defers_unique DO NOTHING
  RETURNING id INTO tick_id;

  IF tick_id IS NULL THEN
    -- Another worker (or an earlier call) already deferred this tick.
    RETURN NULL;
  END IF;

  new_job_id := (procrastinate_defer_jobs_v1(ARRAY[
    ROW(_queue_name, _task_name, _priority, _lock, _queueing_lock, _args, NULL)::procrastinate_job_to_defer_v1
  ]))[1];

  UPDATE procrastinate_periodic_defers SET job_id = new_job_id WHERE id = tick_id;

  DELETE FROM procrastinate_periodic_defers
  WHERE task_name = _task_name
    AND periodic_id = _periodic_id
    AND defer_timestamp < _defer_timestamp;

  RETURN new_job_id;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- Fetching

-- Claims the best runnable job for a worker and returns it, or a NULL row when none is runnable.
-- Runnable: queued, in one of the queues (NULL: any queue; an empty array: none), due, and the
-- head of its lock chain. The chain rule looks at every other job of the lock, whatever its
-- queue or schedule: one running, or one queued ahead (higher priority, or same priority and
-- older), blocks this one. SKIP LOCKED lets concurrent fetches pass over rows another caller is
-- claiming rather than wait for it; now() is the transaction start, so call this in autocommit.
CREATE FUNCTION procrastinate_fetch_job_v2(target_queue_names character varying[], p_worker_id bigint)
RETURNS procrastinate_jobs
LANGUAGE plpgsql
AS $$
DECLARE
  claimed procrastinate_jobs;
BEGIN
  WITH candidate AS (
    SELECT jobs.id
    FROM procrastinate_jobs AS jobs
    WHERE jobs.status = 'todo'
      AND (target_queue_names IS NULL OR jobs.queue_name = ANY (target_queue_names))
      AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
      AND (
        jobs.lock IS NULL
        OR NOT EXISTS (
          SELECT 1
          FROM procrastinate_jobs AS other_jobs
          WHERE other_jobs.lock = jobs.lock
            AND (
              other_jobs.status = 'doing'
              OR (
                other_jobs.status = 'todo'
                AND (
                  other_jobs.priority > jobs.priority
                  OR (other_jobs.priority = jobs.priority AND other_jobs.id < jobs.id)
                )
              )
            )
        )
      )
    ORDER BY jobs.priority DESC, jobs.id ASC
    LIMIT 1
    FOR UPDATE OF jobs SKIP LOCKED
  )
  UPDATE procrastinate_jobs AS target
  SET status = 'doing', worker_id = p_worker_id
  FROM candidate
  WHERE target.id = candidate.id
  RETURNING target.* INTO claimed;

  -- Unassigned when nothing matched: the caller reads one row of NULLs.
  RETURN claimed;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- Ending, retrying, cancelling

-- Ends a queued or running job as succeeded, failed or aborted (or deletes it). A running job
-- counts one more attempt; the abort flag is cleared. Ownership (worker_id) is not checked.
CREATE FUNCTION procrastinate_finish_job_v1(job_id bigint, end_status procrastinate_job_status, delete_job boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  finished_id bigint;
BEGIN
  IF end_status IS NULL OR end_status NOT IN ('succeeded', 'failed', 'aborted') THEN
    RAISE 'Cannot finish a job as "%": the end status must be "succeeded", "failed" or "aborted" (job id: %)',
      end_status, job_id;
  END IF;

  IF delete_job THEN
    DELETE FROM procrastinate_jobs AS jobs
    WHERE jobs.id = procrastinate_finish_job_v1.job_id AND jobs.status IN ('todo', 'doing')
    RETURNING jobs.id INTO finished_id;
  ELSE
    UPDATE procrastinate_jobs AS jobs
    SET status = end_status,
        abort_requested = false,
        attempts = CASE WHEN jobs.status = 'doing' THEN jobs.attempts + 1 ELSE jobs.attempts END
    WHERE jobs.id = procrastinate_finish_job_v1.job_id AND jobs.status IN ('todo', 'doing')
    RETURNING jobs.id INTO finished_id;
  END IF;

  IF finished_id IS NULL THEN
    RAISE 'Job was not found or not in "doing" or "todo" status (job id: %)', job_id;
  END IF;
END;
$$;

-- Puts a running or failed job back in the queue at retry_at, counting one more attempt, and
-- replaces priority, queue and lock by the arguments that are not NULL. A running job with an
-- abort request is not retried: it becomes 'failed' and keeps its flag and attempt count.
-- Leaves worker_id alone and notifies nobody: pollers find the job when it is due.
CREATE FUNCTION procrastinate_retry_job_v2(
  job_id bigint,
  retry_at timestamp with time zone,
  new_priority integer,
  new_queue_name character varying,
  new_lock character varying
)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  current_status procrastinate_job_status;
  flagged boolean;
BEGIN
  SELECT jobs.status, jobs.abort_requested INTO current_status, flagged
  FROM procrastinate_jobs AS jobs
  WHERE jobs.id = procrastinate_retry_job_v2.job_id AND jobs.status IN ('doing', 'failed')
  FOR UPDATE;

  IF NOT FOUND THEN
    RAISE 'Job was not found or has an invalid status to retry (job id: %)', job_id;
  END IF;

  IF current_status = 'doing' AND flagged THEN
    UPDATE procrastinate_jobs AS jobs SET status = 'failed'
    WHERE jobs.id = procrastinate_retry_job_v2.job_id;
    RETURN;
  END IF;

  -- A failed job still flagged fails the CHECK here (23514): clear the flag before a manual retry.
  UPDATE procrastinate_jobs AS jobs
  SET status = 'todo',
      attempts = jobs.attempts + 1,
      scheduled_at = retry_at,
      priority = coalesce(new_priority, jobs.priority),
      queue_name = coalesce(new_queue_name, jobs.queue_name),
      lock = coalesce(new_lock, jobs.lock)
  WHERE jobs.id = procrastinate_retry_job_v2.job_id;
END;
$$;

-- The pre-3.4 retry, kept for older clients: like procrastinate_retry_job_v2 but only for
-- running jobs (a failed job is "not found").
CREATE FUNCTION procrastinate_retry_job_v1(
  job_id bigint,
  retry_at timestamp with time zone,
  new_priority integer,
  new_queue_name character varying,
  new_lock character varying
)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM 1 FROM procrastinate_jobs AS jobs
  WHERE jobs.id = procrastinate_retry_job_v1.job_id AND jobs.status = 'doing'
  FOR UPDATE;

  IF NOT FOUND THEN
    RAISE 'Job was not found or not in "doing" status (job id: %)', job_id;
  END IF;

  PERFORM procrastinate_retry_job_v2(job_id, retry_at, new_priority, new_queue_name, new_lock);
END;
$$;

-- Cancels a queued job (or deletes it with delete_job), or, with abort, asks the worker running
-- it to stop: the database never stops a running job itself. Returns the job id, or NULL when
-- no job was in a state this call acts on.
CREATE FUNCTION procrastinate_cancel_job_v1(job_id bigint, abort boolean, delete_job boolean)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  acted_id bigint;
BEGIN
  IF delete_job THEN
    DELETE FROM procrastinate_jobs AS jobs
    WHERE jobs.id = procrastinate_cancel_job_v1.job_id AND jobs.status = 'todo'
    RETURNING jobs.id INTO acted_id;
  END IF;

  IF acted_id IS NULL THEN
    -- With abort, the flag stays set on the cancelled row: it records that an abort was asked.
    UPDATE procrastinate_jobs AS jobs
    SET status = 'cancelled', abort_requested = coalesce(abort, false)
    WHERE jobs.id = procrastinate_cancel_job_v1.job_id AND jobs.status = 'todo'
    RETURNING jobs.id INTO acted_id;
  END IF;

  IF acted_id IS NULL AND abort THEN
    UPDATE procrastinate_jobs AS jobs
    SET abort_requested = true
    WHERE jobs.id = procrastinate_cancel_job_v1.job_id AND jobs.status = 'doing'
    RETURNING jobs.id INTO acted_id;
  END IF;

  RETURN acted_id;
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- Workers. Plain SQL bodies: parameters are referred to by position, so their names (part of
-- the API for named calls) cannot clash with columns.

CREATE FUNCTION procrastinate_register_worker_v1()
RETURNS TABLE (worker_id bigint)
LANGUAGE sql
AS $$
  INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id;
$$;

-- Jobs of the worker keep their status; ON DELETE SET NULL forgets the worker on every one.
CREATE FUNCTION procrastinate_unregister_worker_v1(worker_id bigint)
RETURNS void
LANGUAGE sql
AS $$
  DELETE FROM procrastinate_workers WHERE id = $1;
$$;

-- Does nothing when the worker row is gone (pruned): detect that with your own UPDATE ... RETURNING.
CREATE FUNCTION procrastinate_update_heartbeat_v1(worker_id bigint)
RETURNS void
LANGUAGE sql
AS $$
  UPDATE procrastinate_workers SET last_heartbeat = now() WHERE id = $1;
$$;

-- Deletes the workers silent for longer than the given seconds and returns their ids.
CREATE FUNCTION procrastinate_prune_stalled_workers_v1(seconds_since_heartbeat double precision)
RETURNS TABLE (worker_id bigint)
LANGUAGE sql
AS $$
  DELETE FROM procrastinate_workers
  WHERE last_heartbeat < now() - $1 * interval '1 second'
  RETURNING id;
$$;

-- ---------------------------------------------------------------------------------------------
-- Notifications. Each goes to the job's queue channel and to the any-queue channel, with a JSON
-- payload such as {"type" : "job_inserted", "job_id" : 42} (json_build_object's spacing).
-- A queue name over 40 bytes makes the channel name exceed 63 bytes: pg_notify then raises
-- 22023 "channel name too long", failing the insert.

CREATE FUNCTION procrastinate_notify_queue_job_inserted_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  payload text := json_build_object('type', 'job_inserted', 'job_id', NEW.id)::text;
BEGIN
  PERFORM pg_notify('procrastinate_queue_v1#' || NEW.queue_name, payload);
  PERFORM pg_notify('procrastinate_any_queue_v1', payload);
  RETURN NULL;
END;
$$;

CREATE FUNCTION procrastinate_notify_queue_abort_job_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  payload text := json_build_object('type', 'abort_job_requested', 'job_id', NEW.id)::text;
BEGIN
  PERFORM pg_notify('procrastinate_queue_v1#' || NEW.queue_name, payload);
  PERFORM pg_notify('procrastinate_any_queue_v1', payload);
  RETURN NULL;
END;
$$;

-- Wakes listeners for a new queued job, even one scheduled later (they find nothing yet).
CREATE TRIGGER procrastinate_jobs_notify_queue_job_inserted_v1
  AFTER INSERT ON procrastinate_jobs
  FOR EACH ROW WHEN (NEW.status = 'todo')
  EXECUTE FUNCTION procrastinate_notify_queue_job_inserted_v1();

-- Only the first request for a running job notifies; repeated requests only add events.
CREATE TRIGGER procrastinate_jobs_notify_queue_job_aborted_v1
  AFTER UPDATE OF abort_requested ON procrastinate_jobs
  FOR EACH ROW WHEN (OLD.abort_requested = false AND NEW.abort_requested = true AND NEW.status = 'doing')
  EXECUTE FUNCTION procrastinate_notify_queue_abort_job_v1();

-- ---------------------------------------------------------------------------------------------
-- Event history. Triggers, not the functions, write it, so that any client changing a status
-- (through a function or a plain UPDATE) leaves the history the Python tools read.

CREATE FUNCTION procrastinate_trigger_function_status_events_insert_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO procrastinate_events (job_id, type) VALUES (NEW.id, 'deferred');
  RETURN NULL;
END;
$$;

-- One event per meaningful transition; any other change (including none) writes nothing.
CREATE FUNCTION procrastinate_trigger_function_status_events_update_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  event procrastinate_job_event_type := CASE
    WHEN OLD.status = 'todo' AND NEW.status = 'doing' THEN 'started'
    WHEN OLD.status = 'doing' AND NEW.status = 'todo' THEN 'deferred_for_retry'
    WHEN OLD.status = 'doing' AND NEW.status = 'failed' THEN 'failed'
    WHEN OLD.status = 'doing' AND NEW.status = 'succeeded' THEN 'succeeded'
    WHEN OLD.status = 'todo' AND NEW.status IN ('cancelled', 'failed', 'succeeded') THEN 'cancelled'
    WHEN OLD.status = 'doing' AND NEW.status = 'aborted' THEN 'aborted'
    WHEN OLD.status = 'failed' AND NEW.status = 'todo' THEN 'retried'
  END;
BEGIN
  IF event IS NOT NULL THEN
    INSERT INTO procrastinate_events (job_id, type) VALUES (NEW.id, event);
  END IF;
  RETURN NULL;
END;
$$;

-- Records when a queued job is due; at is the scheduled time, not the time of the change.
CREATE FUNCTION procrastinate_trigger_function_scheduled_events_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO procrastinate_events (job_id, type, at) VALUES (NEW.id, 'scheduled', NEW.scheduled_at);
  RETURN NULL;
END;
$$;

CREATE FUNCTION procrastinate_trigger_abort_requested_events_procedure_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO procrastinate_events (job_id, type) VALUES (NEW.id, 'abort_requested');
  RETURN NULL;
END;
$$;

-- The periodic_defers foreign key has no ON DELETE action: unlink the tick before the job goes.
CREATE FUNCTION procrastinate_unlink_periodic_defers_v1()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE procrastinate_periodic_defers SET job_id = NULL WHERE job_id = OLD.id;
  RETURN OLD;
END;
$$;

CREATE TRIGGER procrastinate_trigger_status_events_insert_v1
  AFTER INSERT ON procrastinate_jobs
  FOR EACH ROW WHEN (NEW.status = 'todo')
  EXECUTE FUNCTION procrastinate_trigger_function_status_events_insert_v1();

CREATE TRIGGER procrastinate_trigger_status_events_update_v1
  AFTER UPDATE OF status ON procrastinate_jobs
  FOR EACH ROW
  EXECUTE FUNCTION procrastinate_trigger_function_status_events_update_v1();

CREATE TRIGGER procrastinate_trigger_scheduled_events_v1
  AFTER INSERT OR UPDATE ON procrastinate_jobs
  FOR EACH ROW WHEN (NEW.scheduled_at IS NOT NULL AND NEW.status = 'todo')
  EXECUTE FUNCTION procrastinate_trigger_function_scheduled_events_v1();

CREATE TRIGGER procrastinate_trigger_abort_requested_events_v1
  AFTER UPDATE OF abort_requested ON procrastinate_jobs
  FOR EACH ROW WHEN (NEW.abort_requested = true)
  EXECUTE FUNCTION procrastinate_trigger_abort_requested_events_procedure_v1();

CREATE TRIGGER procrastinate_trigger_delete_jobs_v1
  BEFORE DELETE ON procrastinate_jobs
  FOR EACH ROW
  EXECUTE FUNCTION procrastinate_unlink_periodic_defers_v1();
