/**
 * ProcrastinateBackend's worker: its row and heartbeats, the ownership guard on every write,
 * writes that outlast a database refusing connections, and its own sweep of stalled jobs.
 */
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { sleep, waitFor } from '../../src/testing/scheduler-kit.js';
import { JobStore } from '../../backends/procrastinate/job-store.js';
import { deferOne, eventTypes, jobRow, procrastinateDb, registerWorker } from '../helpers/procrastinate.js';
import { postgresProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { deferred, setup, waitStatus } from './backend-kit.js';

test("the ownership guard leaves alone a job that is no longer this run's: other worker, other status, later run", async (t) => {
  const { pool } = await procrastinateDb(t);
  const store = new JobStore(pool, ['default']);
  const [me, other] = [await registerWorker(pool), await registerWorker(pool)];
  await deferOne(pool);
  const run1 = (await store.fetch(me))!;
  t.false(await store.finish(run1, other, 'succeeded', false), 'another worker cannot finish it');
  t.is(await store.retry(run1, me, 0), 'retried');
  const run2 = (await store.fetch(me))!; // the same job, claimed again by the same worker
  t.is(run2.id, run1.id);
  t.is(run2.attempts, 1);
  t.false(await store.finish(run1, me, 'succeeded', false), 'the first run cannot end the second');
  t.is(await store.retry(run1, me, 0), 'not_ours');
  // Pruned worker (worker_id NULL) and nobody re-claimed: still ours.
  await pool.query('UPDATE procrastinate_jobs SET worker_id = NULL WHERE id = $1', [run2.id]);
  t.true(await store.finish(run2, me, 'failed', false));
  t.false(await store.finish(run2, me, 'failed', false), 'finished once');
  t.like(await jobRow(pool, run2.id), { status: 'failed', attempts: 2 });
});

/** The test's schema, a pool straight to it, and a pool to it through a TCP proxy the test controls. */
async function proxiedDb(t: ExecutionContext): Promise<{ direct: pg.Pool; proxy: TcpProxy; pool: pg.Pool }> {
  const { pool: direct, schema } = await procrastinateDb(t);
  const { proxy, connection } = await postgresProxy(t);
  const pool = new pg.Pool({ ...connection, options: `-c search_path=${schema}`, max: 4 });
  pool.on('error', () => {});
  t.teardown(() => pool.end());
  return { direct, proxy, pool };
}

test('the end of a job is written once the database takes connections again, however long it refused them', async (t) => {
  // The backend's pool goes through the proxy; the slots are on Redis, which stays up.
  const { direct, proxy, pool } = await proxiedDb(t);
  const release = deferred();
  const started = deferred<string>();
  const { entries } = await setup(
    t,
    {
      tasks: {
        x: async (_args, job) => {
          started.resolve(job.id);
          await release.promise;
        },
      },
    },
    { pool, redis: true },
  );
  t.teardown(() => proxy.refuse(false));
  const id = await deferOne(direct, { task: 'x' });
  t.is(await started.promise, id);
  // As during a restart: every connection drops, and new ones are refused (ECONNREFUSED).
  proxy.refuse(true);
  proxy.cut();
  release.resolve();
  // Longer than the first tries at the write (0.5 s, then 2 s after): it keeps trying while the backend is open.
  await sleep(4000);
  t.is((await jobRow(direct, id))?.status, 'doing');
  proxy.refuse(false);
  await waitStatus(direct, id, 'succeeded', 8000);
  t.like(await jobRow(direct, id), { status: 'succeeded', attempts: 1 });
  t.false(entries.some((entry) => entry.message.startsWith('could not write the end of the job')));
});

test('a heartbeat stuck on a half-open connection gives up after heartbeatInterval, and the next one beats on another connection', async (t) => {
  // The backend's pool goes through the proxy.
  const { direct, proxy, pool } = await proxiedDb(t);
  const { backend } = await setup(t, { heartbeatInterval: 300, tasks: { x: () => {} } }, { pool });
  // Runs first at teardown: frozen connections would hold back the backend's close.
  t.teardown(() => proxy.cut());
  const heartbeat = async () =>
    (
      await direct.query<{ at: Date }>('SELECT last_heartbeat AS at FROM procrastinate_workers WHERE id = $1', [backend.workerId])
    ).rows[0]!.at.getTime();
  const first = await heartbeat();
  await waitFor(async () => (await heartbeat()) > first, 'a heartbeat', 3000);

  // Every open connection goes silent, the pooled ones the heartbeat uses included.
  proxy.freeze();
  const frozenAt = await heartbeat();
  const connectionsBefore = proxy.connections;
  await waitFor(async () => (await heartbeat()) > frozenAt, 'a heartbeat after the freeze', 5000);
  t.true(proxy.connections > connectionsBefore, 'it beat on a new connection');
});

test('the worker row exists while open, heartbeats, is registered again when deleted, and is gone after close', async (t) => {
  const release = deferred();
  const started = deferred();
  const { pool, backend, scheduler, entries } = await setup(t, {
    heartbeatInterval: 150,
    tasks: {
      wait: async () => {
        started.resolve();
        await release.promise;
      },
    },
  });
  const first = backend.workerId!;
  const heartbeat = async (id: string) =>
    (await pool.query<{ at: Date }>('SELECT last_heartbeat AS at FROM procrastinate_workers WHERE id = $1', [id])).rows[0]?.at.getTime();
  const before = await heartbeat(first);
  t.truthy(before);
  await waitFor(async () => (await heartbeat(first))! > before!, 'a heartbeat', 3000);

  const job = await deferOne(pool, { task: 'wait' });
  await started.promise;
  t.like(await jobRow(pool, job), { worker_id: first });
  // Pruned (as a Python worker prunes a silent one): our job now looks stalled.
  await pool.query('DELETE FROM procrastinate_workers WHERE id = $1', [first]);
  t.like(await jobRow(pool, job), { status: 'doing', worker_id: null });
  await waitFor(() => backend.workerId !== first, 'a new registration', 3000);
  const second = backend.workerId!;
  t.truthy(await heartbeat(second));
  await waitFor(async () => (await jobRow(pool, job))?.worker_id === second, 'the running job to be adopted', 3000);
  t.truthy(entries.find((e) => e.level === 'error' && e.message === 'procrastinate worker row is gone; registering again'));

  release.resolve();
  await waitStatus(pool, job, 'succeeded');
  await scheduler.close();
  t.is((await pool.query('SELECT 1 FROM procrastinate_workers')).rowCount, 0);
});

test('a fetch made after our worker row was deleted registers again and claims under the new id', async (t) => {
  const { pool, backend } = await setup(t, { heartbeatInterval: 10_000, tasks: { x: () => {} } });
  const first = backend.workerId!;
  await pool.query('DELETE FROM procrastinate_workers WHERE id = $1', [first]);
  // The NOTIFY starts a pass before any heartbeat: the claim fails on the foreign key (23503).
  const job = await deferOne(pool, { task: 'x' });
  await waitStatus(pool, job, 'succeeded');
  t.not(backend.workerId, first);
  t.like(await jobRow(pool, job), { worker_id: backend.workerId });
});

test("the backend's own sweep never takes a job running here, even while its worker_id reads NULL", async (t) => {
  const started = deferred();
  const release = deferred();
  let aborted: boolean | undefined;
  const { pool, backend } = await setup(t, {
    heartbeatInterval: 10_000, // no heartbeat re-registers us during the test
    tasks: {
      wait: async (_args, job) => {
        started.resolve();
        await release.promise;
        aborted = job.signal.aborted;
      },
    },
  });
  const id = await deferOne(pool, { task: 'wait' });
  await started.promise;
  // As after a prune: the running job reads worker_id NULL, which is how a dead worker's job looks.
  await pool.query('DELETE FROM procrastinate_workers WHERE id = $1', [backend.workerId]);
  t.like(await jobRow(pool, id), { status: 'doing', worker_id: null });
  await backend.sweep();
  t.like(await jobRow(pool, id), { status: 'doing', attempts: 0 });
  release.resolve();
  await waitStatus(pool, id, 'succeeded');
  t.false(aborted);
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'succeeded']);
});
