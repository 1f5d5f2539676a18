// examples/procrastinate/worker.ts: a Node worker for Procrastinate jobs, bounded by 3 Redis slots
// fleet-wide. Jobs come from Python (`configure_task(...).defer()`), from SQL, and from Node.
import pg from 'pg';
import { Scheduler } from 'task-semaphore';
import { ProcrastinateBackend, ProcrastinateClient, applySchema } from 'task-semaphore/backends/procrastinate';

const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `procrastinate_example_${process.pid}`; // the example's own schema; yours is Python's
const admin = new pg.Pool({ connectionString: databaseUrl });
await admin.query(`CREATE SCHEMA ${schema}`);
// Same search_path as the Python app, so both sides see the same procrastinate_* objects.
const pool = new pg.Pool({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
await applySchema(pool); // only for teams without Python: otherwise Procrastinate's migrations made it

const done: string[] = [];
const procrastinate = new ProcrastinateBackend({
  postgres: pool,
  queues: ['node'], // only our queue: Python workers keep theirs
  tasks: {
    'reports.build': async ({ report_id }, job) => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      done.push(`reports.build(${report_id}) attempt ${job.attempts + 1}`);
    },
    'mail.send': {
      retry: { maxAttempts: 2, wait: 0 }, // Procrastinate's RetryStrategy, same formula
      handler: async ({ to }, job) => {
        if (job.attempts === 0) throw new Error('SMTP timeout'); // fails once, then succeeds
        done.push(`mail.send(${to}) attempt ${job.attempts + 1}`);
      },
    },
  },
});

const scheduler = new Scheduler({ name: `procrastinate-example-${process.pid}`, redis: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
scheduler.registerBackend('Procrastinate', procrastinate);
await scheduler.load([1, 2, 3].map((slotId) => ({ slotId, backends: ['Procrastinate'], timeout: '30s' })));
scheduler.start({ cron: '*/5 * * * * *' }); // LISTEN/NOTIFY starts jobs at once; the tick is the safety net

// From Node:
const client = new ProcrastinateClient({ postgres: pool });
await client.defer('reports.build', { report_id: 1 }, { queue: 'node' });
await client.deferMany([
  { taskName: 'reports.build', args: { report_id: 2 }, queue: 'node', lock: 'reports' },
  { taskName: 'mail.send', args: { to: 'ops@example.com' }, queue: 'node' },
]);
// From SQL, as Procrastinate's Python client sends it:
await pool.query(
  `SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW($1, $2, 0, NULL, NULL, $3::jsonb, NULL)]::procrastinate_job_to_defer_v1[]))`,
  ['node', 'reports.build', JSON.stringify({ report_id: 3 })],
);

while (done.length < 4) await new Promise((resolve) => setTimeout(resolve, 50));
await scheduler.close(); // graceful: waits for running handlers, then unregisters the worker
await client.close();
console.log(done.sort().join('\n'));
await pool.end();
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();
