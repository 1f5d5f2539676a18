/**
 * What the ProcrastinateBackend tests (backend-*.test.ts) share: a backend on the test's schema
 * under a scheduler of its own, waits on a job's status, and handlers that wait for their abort.
 */
import type { ExecutionContext } from 'ava';
import pg from 'pg';
import { ProcrastinateBackend } from '../../backends/procrastinate/backend.js';
import type { JobContext, ProcrastinateBackendOptions } from '../../backends/procrastinate/backend-options.js';
import { TaskAbortedError, type AbortCause } from '../../src/core/errors.js';
import type { SchedulerOptions } from '../../src/scheduler/options.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { waitFor } from '../../src/testing/scheduler-kit.js';
import { eventTypes, jobRow, procrastinateDb } from '../helpers/procrastinate.js';
import { redisUrl, uniqueName } from '../helpers/services.js';
import { capturingLogger, type LogEntry } from '../helpers/capturing-logger.js';

export interface Setup {
  pool: pg.Pool;
  /** The test's schema, unless the caller passed its own pool. */
  schema: string | undefined;
  backend: ProcrastinateBackend;
  scheduler: Scheduler;
  entries: LogEntry[];
}

/**
 * A backend on the test's schema and a scheduler of a unique name whose slots (MemorySlot, or
 * Redis slots under a unique prefix) list it; closed at teardown.
 */
export async function setup(
  t: ExecutionContext,
  options: Partial<ProcrastinateBackendOptions> & Pick<ProcrastinateBackendOptions, 'tasks'>,
  {
    slots = 1,
    redis = false,
    postgresSlots = false,
    slot = {} as Record<string, unknown>,
    pool: given,
    scheduler: schedulerOptions = {},
  }: {
    slots?: number;
    redis?: boolean | string;
    postgresSlots?: boolean;
    slot?: Record<string, unknown>;
    pool?: pg.Pool;
    scheduler?: Partial<SchedulerOptions>;
  } = {},
): Promise<Setup> {
  const { pool, schema } = given ? { pool: given, schema: undefined } : await procrastinateDb(t);
  const { logger, entries } = capturingLogger();
  const backend = new ProcrastinateBackend({ postgres: pool, queues: ['default'], shutdownGrace: 2000, logger, ...options });
  const scheduler = new Scheduler({
    name: uniqueName('pb'),
    pollTimeout: '3s',
    reservationTimeout: '10s',
    callbackTimeout: '5s',
    logger,
    ...(redis ? { redis: redis === true ? redisUrl : redis, keyPrefix: uniqueName() } : {}),
    // The slot tables beside Procrastinate's, in the test's schema.
    ...(postgresSlots ? { postgres: pool, postgresSchema: schema } : {}),
    ...schedulerOptions,
  });
  scheduler.registerBackend('Procrastinate', backend);
  t.teardown(() => scheduler.close());
  await scheduler.load(Array.from({ length: slots }, (_, i) => ({ slotId: i + 1, backends: ['Procrastinate'], timeout: '10s', ...slot })));
  return { pool, schema, backend, scheduler, entries };
}

export const statusOf = async (pool: pg.Pool, id: string) => (await jobRow(pool, id))?.status;
export const waitStatus = (pool: pg.Pool, id: string, status: string, ms = 8000) =>
  waitFor(async () => (await statusOf(pool, id)) === status, `job ${id} to be ${status}`, ms);

/** A promise with its resolve function (Node 20 has no Promise.withResolvers). */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when the signal fires, then throws its reason, as a cooperative handler does. */
export const untilAborted = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/** A handler that waits for its signal and throws its reason, which it keeps for the test. */
export function waitsForAbort() {
  const started = deferred<string>();
  const seen: { reason?: unknown } = {};
  const handler = async (_args: Record<string, unknown>, job: JobContext) => {
    started.resolve(job.id);
    await untilAborted(job.signal).catch((error: unknown) => {
      seen.reason = error;
      throw error;
    });
  };
  return { handler, started: started.promise, seen };
}

/** The slot told the handler to stop with `cause`, and the job ended failed after its one run. */
export async function failedBySlot(t: ExecutionContext, pool: pg.Pool, id: string, reason: unknown, cause: AbortCause): Promise<void> {
  t.true(reason instanceof TaskAbortedError, String(reason));
  t.is((reason as TaskAbortedError).abortCause, cause);
  t.like(await jobRow(pool, id), { status: 'failed', attempts: 1 });
  t.deepEqual(await eventTypes(pool, id), ['deferred', 'started', 'failed']);
}
