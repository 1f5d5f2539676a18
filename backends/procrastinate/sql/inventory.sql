-- inventory: which objects of schema.sql the connection already sees through search_path, so
-- that applySchema() creates the schema only where none of it exists (a partial or older
-- schema is reported, never patched). to_regprocedure() raises on an unknown argument type,
-- hence the CASE guards on the procrastinate types.
-- Parameters: none.
-- Returns one row per object, in schema.sql order: object text (kind and name), present boolean,
-- and on every row target_schema text (where CREATE would put objects: NULL when no schema of
-- search_path exists), jobs_schema text (where the procrastinate_jobs found lives, or NULL) and
-- search_path text.
WITH types AS (
  SELECT
    to_regtype('procrastinate_job_status') IS NOT NULL AS job_status,
    to_regtype('procrastinate_job_to_defer_v1') IS NOT NULL AS job_to_defer
),
objects (ord, object, present) AS (
  SELECT 1, 'type procrastinate_job_status', t.job_status FROM types AS t
  UNION ALL SELECT 2, 'type procrastinate_job_event_type', to_regtype('procrastinate_job_event_type') IS NOT NULL
  UNION ALL SELECT 3, 'type procrastinate_job_to_defer_v1', t.job_to_defer FROM types AS t
  UNION ALL SELECT 4, 'table procrastinate_workers', to_regclass('procrastinate_workers') IS NOT NULL
  UNION ALL SELECT 5, 'table procrastinate_jobs', to_regclass('procrastinate_jobs') IS NOT NULL
  UNION ALL SELECT 6, 'table procrastinate_periodic_defers', to_regclass('procrastinate_periodic_defers') IS NOT NULL
  UNION ALL SELECT 7, 'table procrastinate_events', to_regclass('procrastinate_events') IS NOT NULL
  UNION ALL SELECT 8, 'function procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[])',
    CASE WHEN t.job_to_defer
      THEN to_regprocedure('procrastinate_defer_jobs_v1(procrastinate_job_to_defer_v1[])') IS NOT NULL
      ELSE false END
    FROM types AS t
  UNION ALL SELECT 9, 'function procrastinate_defer_periodic_job_v2(character varying, character varying, character varying, character varying, integer, character varying, bigint, jsonb)',
    to_regprocedure('procrastinate_defer_periodic_job_v2(character varying,character varying,character varying,character varying,integer,character varying,bigint,jsonb)') IS NOT NULL
  UNION ALL SELECT 10, 'function procrastinate_fetch_job_v2(character varying[], bigint)',
    to_regprocedure('procrastinate_fetch_job_v2(character varying[],bigint)') IS NOT NULL
  UNION ALL SELECT 11, 'function procrastinate_finish_job_v1(bigint, procrastinate_job_status, boolean)',
    CASE WHEN t.job_status
      THEN to_regprocedure('procrastinate_finish_job_v1(bigint,procrastinate_job_status,boolean)') IS NOT NULL
      ELSE false END
    FROM types AS t
  UNION ALL SELECT 12, 'function procrastinate_retry_job_v2(bigint, timestamp with time zone, integer, character varying, character varying)',
    to_regprocedure('procrastinate_retry_job_v2(bigint,timestamp with time zone,integer,character varying,character varying)') IS NOT NULL
  UNION ALL SELECT 13, 'function procrastinate_retry_job_v1(bigint, timestamp with time zone, integer, character varying, character varying)',
    to_regprocedure('procrastinate_retry_job_v1(bigint,timestamp with time zone,integer,character varying,character varying)') IS NOT NULL
  UNION ALL SELECT 14, 'function procrastinate_cancel_job_v1(bigint, boolean, boolean)',
    to_regprocedure('procrastinate_cancel_job_v1(bigint,boolean,boolean)') IS NOT NULL
  UNION ALL SELECT 15, 'function procrastinate_register_worker_v1()',
    to_regprocedure('procrastinate_register_worker_v1()') IS NOT NULL
  UNION ALL SELECT 16, 'function procrastinate_unregister_worker_v1(bigint)',
    to_regprocedure('procrastinate_unregister_worker_v1(bigint)') IS NOT NULL
  UNION ALL SELECT 17, 'function procrastinate_update_heartbeat_v1(bigint)',
    to_regprocedure('procrastinate_update_heartbeat_v1(bigint)') IS NOT NULL
  UNION ALL SELECT 18, 'function procrastinate_prune_stalled_workers_v1(double precision)',
    to_regprocedure('procrastinate_prune_stalled_workers_v1(double precision)') IS NOT NULL
  UNION ALL SELECT 19, 'function procrastinate_notify_queue_job_inserted_v1()',
    to_regprocedure('procrastinate_notify_queue_job_inserted_v1()') IS NOT NULL
  UNION ALL SELECT 20, 'function procrastinate_notify_queue_abort_job_v1()',
    to_regprocedure('procrastinate_notify_queue_abort_job_v1()') IS NOT NULL
  UNION ALL SELECT 21, 'function procrastinate_trigger_function_status_events_insert_v1()',
    to_regprocedure('procrastinate_trigger_function_status_events_insert_v1()') IS NOT NULL
  UNION ALL SELECT 22, 'function procrastinate_trigger_function_status_events_update_v1()',
    to_regprocedure('procrastinate_trigger_function_status_events_update_v1()') IS NOT NULL
  UNION ALL SELECT 23, 'function procrastinate_trigger_function_scheduled_events_v1()',
    to_regprocedure('procrastinate_trigger_function_scheduled_events_v1()') IS NOT NULL
  UNION ALL SELECT 24, 'function procrastinate_trigger_abort_requested_events_procedure_v1()',
    to_regprocedure('procrastinate_trigger_abort_requested_events_procedure_v1()') IS NOT NULL
  UNION ALL SELECT 25, 'function procrastinate_unlink_periodic_defers_v1()',
    to_regprocedure('procrastinate_unlink_periodic_defers_v1()') IS NOT NULL
)
SELECT o.object, o.present, current_schema() AS target_schema,
  (SELECT ns.nspname::text FROM pg_catalog.pg_class AS c
   JOIN pg_catalog.pg_namespace AS ns ON ns.oid = c.relnamespace
   WHERE c.oid = to_regclass('procrastinate_jobs')) AS jobs_schema,
  current_setting('search_path') AS search_path
FROM objects AS o
ORDER BY o.ord;
