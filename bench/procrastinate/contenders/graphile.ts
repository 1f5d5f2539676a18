/**
 * graphile-worker at concurrency S: its defaults, then its batched local queue, then the local
 * queue with batched completions (`completeJobBatchDelay: 0`). Skipped, with a note, when it is
 * not installed in bench/node_modules.
 */
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Services } from '../../harness/services.js';
import { databaseUrl } from '../../harness/services.js';
import { sleep } from '../../harness/timing.js';
import { measure, type Contender, type Drain, type Measured, type Setup } from '../drain.js';
import { loadGraphileWorker, type GraphileOptions, type GraphileWorker } from '../graphile-worker.js';

/** The three graphile-worker contenders, and notes for the output (why skipped, its engines). */
export function graphileContenders({ services, admin, options }: Setup): { contenders: Contender[]; notes: string[] } {
  const graphile = loadGraphileWorker();
  if ('error' in graphile) return { contenders: [], notes: [`graphile-worker skipped: ${graphile.error}`] };
  const notes: string[] = [];
  const { worker, version } = graphile;
  const size = options.slots + 1;
  const contenders: Contender[] = [
    {
      key: 'graphile',
      label: `graphile-worker ${version}, concurrency ${options.slots}, defaults`,
      drain: (n) => graphileDrain(services, admin, worker, n, options.slots, undefined),
    },
    {
      key: 'graphile-lq',
      label: `graphile-worker ${version}, concurrency ${options.slots}, localQueue.size ${size}`,
      drain: (n) => graphileDrain(services, admin, worker, n, options.slots, { localQueue: { size } }),
    },
    {
      key: 'graphile-lq-batch',
      label: `graphile-worker ${version}, concurrency ${options.slots}, localQueue.size ${size}, completeJobBatchDelay 0`,
      drain: (n) => graphileDrain(services, admin, worker, n, options.slots, { localQueue: { size }, completeJobBatchDelay: 0 }),
    },
  ];
  if (Number(process.versions.node.split('.')[0]) < 22) {
    notes.push(
      `graphile-worker ${version} declares node >= 22.18 (engines); it ran here on Node ${process.version} without errors, every job checked in SQL.`,
    );
  }
  return { contenders, notes };
}

/**
 * graphile-worker's `run` at `concurrency`, with extra preset options (undefined: its defaults),
 * draining `jobs` jobs whose task is `task` (a no-op by default).
 */
export async function graphileDrain(
  services: Services,
  admin: pg.Pool,
  worker: GraphileWorker,
  jobs: number,
  concurrency: number,
  workerPreset: Record<string, unknown> | undefined,
  task: () => Promise<void> = async () => {},
): Promise<Drain> {
  const schema = services.newSchema('bench_gw');
  // Its logger would print a line per job: a silent one, as our Scheduler's default logger.
  const logger = new worker.Logger(() => () => {});
  const base: GraphileOptions = { connectionString: databaseUrl, schema, logger };
  try {
    await worker.runMigrations(base);
    const utils = await worker.makeWorkerUtils(base);
    try {
      const added = await utils.addJobs(Array.from({ length: jobs }, () => ({ identifier: 'noop', payload: {} })));
      if (added.length !== jobs) throw new Error(`addJobs added ${added.length} of ${jobs} jobs`);
    } finally {
      await utils.release();
    }
    const table = `${pg.escapeIdentifier(schema)}._private_jobs`;
    await admin.query(`ANALYZE ${table}`);
    const events = new EventEmitter();
    let completed = 0;
    let failed: Error | undefined;
    let allComplete!: () => void;
    const complete = new Promise<void>((resolve) => (allComplete = resolve));
    events.on('job:complete', ({ error }: { error?: unknown }) => {
      if (error) failed ??= new Error(`graphile-worker job failed: ${String(error)}`);
      if (++completed === jobs) allComplete();
    });
    const stop = measure();
    const began = performance.now();
    const runner = await worker.run({
      ...base,
      concurrency,
      noHandleSignals: true,
      taskList: { noop: task },
      events,
      ...(workerPreset ? { preset: { worker: workerPreset } } : {}),
    });
    let elapsedMs: number;
    let measured: Measured;
    try {
      const stall = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`graphile-worker drain stalled: ${completed} of ${jobs} after 180 s`)), 180_000).unref(),
      );
      await Promise.race([complete, stall, runner.promise.then(() => Promise.reject(new Error('graphile-worker runner ended early')))]);
      // Completions are written after job:complete: the drain ends when the table is empty.
      while (Number((await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n) > 0) await sleep(2);
      elapsedMs = performance.now() - began;
      measured = stop();
    } finally {
      await runner.stop();
    }
    if (failed) throw failed;
    return {
      contender: 'graphile',
      jobsPerSec: (jobs / elapsedMs) * 1000,
      elapsedMs,
      requests: '-',
      ...measured,
    };
  } finally {
    await services.dropSchema(admin, schema);
  }
}
