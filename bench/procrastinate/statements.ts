/** The SQL the Procrastinate benchmark's own loops send, besides the backend's. */

/** The statements a Python worker sends (PROCRASTINATE.md §5; the same text as test/helpers' `q`). */
export const sql = {
  register: 'SELECT worker_id FROM procrastinate_register_worker_v1()',
  unregister: 'SELECT procrastinate_unregister_worker_v1($1::bigint)',
  fetch:
    'SELECT id, status, task_name, priority, lock, queueing_lock, args, scheduled_at, queue_name, attempts, worker_id ' +
    'FROM procrastinate_fetch_job_v2($1::varchar[], $2::bigint)',
  finish: 'SELECT procrastinate_finish_job_v1($1::bigint, $2::procrastinate_job_status, $3::boolean)',
  // fetch_job_v2 once per row of a MATERIALIZED CTE: one call per job, each seeing the claims of
  // the calls before it (the shape of the backend's batch claim).
  fetchBatch: `WITH claimed AS MATERIALIZED (
      SELECT procrastinate_fetch_job_v2($1::varchar[], $2::bigint) AS job FROM generate_series(1, $3::integer)
    )
    SELECT (claimed.job).id FROM claimed WHERE (claimed.job).id IS NOT NULL`,
  // finish_job_v1 once per job, in id order (the order rows are locked in).
  finishMany: `SELECT procrastinate_finish_job_v1(ids.id, $2::procrastinate_job_status, $3::boolean)
    FROM (SELECT unnest($1::bigint[]) AS id ORDER BY 1) AS ids`,
  statuses: 'SELECT status::text AS status, count(*)::int AS n FROM procrastinate_jobs GROUP BY status',
} as const;
