/**
 * PeriodicDeferrer: N deferrers (standing for N processes) defer each tick of a periodic task
 * once, through procrastinate_defer_periodic_job_v2, with the tick as `args.timestamp`; bad
 * entries are refused at construction; real cron ticks log, never throw.
 */
import test from 'ava';
import { ConfigError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { AlreadyEnqueuedError } from '../../backends/procrastinate/errors.js';
import { PeriodicDeferrer, type PeriodicTask } from '../../backends/procrastinate/periodic.js';
import { waitFor } from '../../src/testing/scheduler-kit.js';
import { procrastinateDb } from '../helpers/procrastinate.js';

const cleanup: PeriodicTask = { taskName: 'app.cleanup', cron: '0 * * * *', args: { older_than: 7 }, queue: 'maintenance', priority: 2 };

/** A logger that keeps every line, so tests can check what ticks reported. */
function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> }> = [];
  const make = (bound: Record<string, unknown>): Logger => {
    const at =
      (level: string) =>
      (message: string, fields: Record<string, unknown> = {}) =>
        void lines.push({ level, message, fields: { ...bound, ...fields } });
    return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (fields) => make({ ...bound, ...fields }) };
  };
  return { logger: make({}), lines };
}

interface JobRow {
  id: string;
  task_name: string;
  queue_name: string;
  priority: number;
  args: Record<string, unknown>;
}

async function jobs(pool: import('pg').Pool): Promise<JobRow[]> {
  return (await pool.query<JobRow>('SELECT id, task_name, queue_name, priority, args FROM procrastinate_jobs ORDER BY id')).rows;
}

test('two deferrers, one tick: one job, with args.timestamp; the next tick: another', async (t) => {
  const { pool } = await procrastinateDb(t);
  const a = new PeriodicDeferrer({ postgres: pool, tasks: [cleanup] });
  const b = new PeriodicDeferrer({ postgres: pool, tasks: [cleanup] });
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const tick = 1_700_000_000;

  const first = await a.deferTick(cleanup, tick);
  t.regex(first ?? '', /^\d+$/);
  t.is(await b.deferTick(cleanup, tick), null); // already deferred by a
  t.is(await a.deferTick(cleanup, tick), null); // and by itself
  t.deepEqual(await jobs(pool), [
    { id: first!, task_name: 'app.cleanup', queue_name: 'maintenance', priority: 2, args: { older_than: 7, timestamp: tick } },
  ]);

  const next = await b.deferTick(cleanup, tick + 3600);
  t.regex(next ?? '', /^\d+$/);
  t.is(await a.deferTick(cleanup, tick + 3600), null);
  t.deepEqual(
    (await jobs(pool)).map((j) => j.args.timestamp),
    [tick, tick + 3600],
  );
  // The function keeps only the latest tick per task: older rows are deleted.
  const defers = await pool.query('SELECT task_name, periodic_id, defer_timestamp, job_id FROM procrastinate_periodic_defers');
  t.deepEqual(defers.rows, [{ task_name: 'app.cleanup', periodic_id: '', defer_timestamp: String(tick + 3600), job_id: next }]);
});

test('five deferrers racing on one tick defer it once', async (t) => {
  const { pool } = await procrastinateDb(t);
  const deferrers = Array.from({ length: 5 }, () => new PeriodicDeferrer({ postgres: pool, tasks: [cleanup] }));
  const ids = await Promise.all(deferrers.map((d) => d.deferTick(cleanup, 1_700_000_060)));
  t.is(ids.filter((id) => id !== null).length, 1);
  t.is((await jobs(pool)).length, 1);
});

test('periodicId tells apart two schedules of one task', async (t) => {
  const { pool } = await procrastinateDb(t);
  const hourly = { ...cleanup, periodicId: 'hourly' };
  const daily = { ...cleanup, cron: '0 0 * * *', periodicId: 'daily' };
  const deferrer = new PeriodicDeferrer({ postgres: pool, tasks: [hourly, daily] });
  t.truthy(await deferrer.deferTick(hourly, 1_700_006_400));
  t.truthy(await deferrer.deferTick(daily, 1_700_006_400));
  t.is((await jobs(pool)).length, 2);
});

test('a tick whose queueing lock is held: AlreadyEnqueuedError, and the tick is not recorded', async (t) => {
  const { pool } = await procrastinateDb(t);
  const locked = { ...cleanup, queueingLock: 'cleanup' };
  const deferrer = new PeriodicDeferrer({ postgres: pool, tasks: [locked] });
  await deferrer.deferTick(locked, 100);
  const error = await t.throwsAsync(deferrer.deferTick(locked, 200), { instanceOf: AlreadyEnqueuedError });
  t.is(error?.queueingLock, 'cleanup');
  // Rolled back with the job: the tick can still be deferred once the lock is free.
  await pool.query("UPDATE procrastinate_jobs SET status = 'cancelled'");
  t.truthy(await deferrer.deferTick(locked, 200));
});

test('bad entries are refused at construction, naming the entry', (t) => {
  const postgres = 'postgres://localhost/x';
  const bad = (tasks: unknown[], options: object = {}) =>
    t.throws(() => new PeriodicDeferrer({ postgres, tasks: tasks as PeriodicTask[], ...options }), { instanceOf: ConfigError });

  const cron = bad([cleanup, { taskName: 'app.report', cron: '61 * * * *' }]);
  t.is(cron?.field, 'PeriodicDeferrerOptions.tasks[1].cron');
  t.regex(cron!.message, /minute field '61': 61 is out of 0-59/);
  t.is(bad([{ taskName: 'app.report', cron: 'every minute' }])?.field, 'PeriodicDeferrerOptions.tasks[0].cron');
  t.is(bad([{ taskName: '', cron: '* * * * *' }])?.field, 'PeriodicDeferrerOptions.tasks[0].taskName');
  t.is(bad([{ ...cleanup, args: { timestamp: 1 } }])?.field, 'PeriodicDeferrerOptions.tasks[0].args.timestamp');
  t.is(bad([{ ...cleanup, args: [1] }])?.field, 'PeriodicDeferrerOptions.tasks[0].args');
  t.is(bad([{ ...cleanup, queue: 'q'.repeat(41) }])?.code, 'ERR_QUEUE_NAME');
  t.is(bad([cleanup, { ...cleanup, cron: '5 * * * *' }])?.field, 'PeriodicDeferrerOptions.tasks[1].periodicId');
  t.is(bad([cleanup], { maxLateness: -1 })?.field, 'PeriodicDeferrerOptions.maxLateness');
  t.is(bad([cleanup], { timezone: 'Mars/Olympus' })?.field, 'PeriodicDeferrerOptions.timezone');
  t.is(bad([cleanup], { postgres: undefined })?.field, 'PeriodicDeferrerOptions.postgres');
});

test('started deferrers defer every real tick once, and log instead of throwing', async (t) => {
  const { pool } = await procrastinateDb(t);
  // Every second; the queueing lock makes the second tick conflict while the first job is queued.
  const everySecond: PeriodicTask = { taskName: 'app.tick', cron: '* * * * * *' };
  const locked: PeriodicTask = { taskName: 'app.locked', cron: '* * * * * *', queueingLock: 'one-at-a-time' };
  const logs = recordingLogger();
  const deferrers = [0, 1, 2].map(() => new PeriodicDeferrer({ postgres: pool, tasks: [everySecond, locked], logger: logs.logger }));
  t.teardown(() => Promise.all(deferrers.map((d) => d.stop())));
  for (const d of deferrers) d.start();
  deferrers[0]!.start(); // idempotent
  t.true(deferrers[0]!.isRunning);
  await new Promise((resolve) => setTimeout(resolve, 3_200));
  await Promise.all(deferrers.map((d) => d.stop()));
  t.false(deferrers[0]!.isRunning);

  const ticks = (await jobs(pool)).filter((j) => j.task_name === 'app.tick').map((j) => j.args.timestamp as number);
  t.true(ticks.length >= 2, `got ${ticks.length} ticks`);
  t.is(new Set(ticks).size, ticks.length); // never twice for one tick
  for (let i = 1; i < ticks.length; i += 1) t.is(ticks[i]! - ticks[i - 1]!, 1); // and none skipped
  t.is((await jobs(pool)).filter((j) => j.task_name === 'app.locked').length, 1);
  t.true(logs.lines.some((l) => l.level === 'info' && /queueing lock/.test(l.message) && l.fields.taskName === 'app.locked'));
  t.deepEqual(
    logs.lines.filter((l) => l.level === 'error'),
    [],
  );

  // Stopped: no more jobs.
  const count = (await jobs(pool)).length;
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  t.is((await jobs(pool)).length, count);
});

test("Procrastinate's seconds-last form: '* * * * * */2' defers every other second, as Python's deferrer does", async (t) => {
  const { pool } = await procrastinateDb(t);
  // node-cron alone reads the 6th field as the day of week: every second, on Sun, Tue, Thu, Sat.
  const everyOther: PeriodicTask = { taskName: 'app.every_other_second', cron: '* * * * * */2' };
  const deferrer = new PeriodicDeferrer({ postgres: pool, tasks: [everyOther] });
  t.teardown(() => deferrer.stop());
  deferrer.start();
  await waitFor(async () => (await jobs(pool)).length >= 3, 'three ticks', 15_000);
  await deferrer.stop();
  const ticks = (await jobs(pool)).map((j) => j.args.timestamp as number);
  for (const tick of ticks) t.is(tick % 2, 0, `tick ${tick} on an even second`);
  for (let i = 1; i < ticks.length; i += 1) t.is(ticks[i]! - ticks[i - 1]!, 2);
});

test('a failing tick is logged as an error, and the process goes on', async (t) => {
  const { pool } = await procrastinateDb(t);
  await pool.query('DROP FUNCTION procrastinate_defer_periodic_job_v2');
  const logs = recordingLogger();
  const deferrer = new PeriodicDeferrer({ postgres: pool, tasks: [{ taskName: 'app.tick', cron: '* * * * * *' }], logger: logs.logger });
  t.teardown(() => deferrer.stop());
  deferrer.start();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await deferrer.stop();
  const errors = logs.lines.filter((l) => l.level === 'error');
  t.true(errors.length >= 1);
  t.like(errors[0], { message: 'periodic tick failed', fields: { backend: 'procrastinate', taskName: 'app.tick' } });
  t.regex(String(errors[0]!.fields.error), /procrastinate_defer_periodic_job_v2/);
});
