/**
 * A store call held up on its way (a frozen server, a lock, a starved process) can answer with a
 * delivery lease that has already lapsed: a pass of another scheduler may take the ended record
 * meanwhile and run its callbacks. The scheduler that got the late answer must leave the record to
 * that redelivery rather than run the callbacks too. Seen in the fault suite: a PostgreSQL frozen
 * mid-end ran one task's stopCallback twice in one process. Here PostgreSQL's end waits on a row
 * lock another session holds: the statement's clock, and so the lease, starts before the wait.
 */
import test, { type ExecutionContext } from 'ava';
import { harness, ScriptedBackend, sleep, slots, waitFor } from '../../src/testing/scheduler-kit.js';
import { closeSlotKinds, postgresKind } from '../helpers/slot-kinds.js';
import { connectPostgres } from '../helpers/services.js';

test.after.always(closeSlotKinds);

const timing = { callbackTimeout: '300ms', deliveryLease: '700ms', logger: false } as const;

/**
 * Two schedulers of one name with the backend; `job-1` started by the first. Were a late answer
 * delivered by the first, the second's pass would take the lapsed record before the
 * acknowledgement goes: the first's stopCallback runs that pass, as the fault suite saw.
 */
async function twoSchedulers(t: ExecutionContext, slotTimeout = '5s') {
  const h = await harness(t, postgresKind);
  const here = new ScriptedBackend(['job-1']);
  const there = new ScriptedBackend();
  const first = h.scheduler({ work: here }, timing);
  const second = h.scheduler({ work: there }, timing);
  await first.load(slots(1, ['work'], { timeout: slotTimeout }));
  await second.load(slots(1, ['work'], { timeout: slotTimeout }));
  await first.schedule();
  t.deepEqual(
    here.started.map((s) => s.taskId),
    ['job-1'],
  );
  here.onStop = async () => void (await second.schedule());
  const schema = (h.setup.options as { postgresSchema: string }).postgresSchema;
  /** Runs `call` while another session holds the lock `lockSql` takes, released 1 s after the call went. */
  const underLock = async <T>(lockSql: string, call: () => Promise<T>): Promise<T> => {
    const locker = await connectPostgres({ max: 1 });
    const client = await locker.connect();
    try {
      await client.query('BEGIN');
      await client.query(lockSql.replaceAll('SCHEMA', schema), lockSql.includes('$1') ? [h.name] : []);
      const answer = call();
      await sleep(1000); // past the 700 ms lease
      await client.query('COMMIT');
      return await answer;
    } finally {
      client.release();
      await locker.end();
    }
  };
  /**
   * The stopCallbacks of job-1 once a pass took the record again: the second scheduler's, or the
   * pass the first one asks for after a pass that reaped (either may come first).
   */
  const redelivered = async () => {
    const stops = () => [...here.stopped, ...there.stopped];
    await waitFor(async () => (await second.schedule(), stops().length > 0), 'the redelivery');
    await second.schedule();
    await first.schedule();
    return stops().map((s) => [s.taskId, s.outcome.reason, s.outcome.redelivered]);
  };
  return { here, there, first, second, underLock, redelivered };
}

test('PostgreSQL: an end answered after its delivery lease lapsed is left to redelivery, and its stopCallback runs once', async (t) => {
  const { here, first, underLock, redelivered } = await twoSchedulers(t);
  // The end's statement takes its clock, then waits on the slot's row.
  const stopped = await underLock('SELECT 1 FROM SCHEMA.task_semaphore_slots WHERE scheduler = $1 FOR UPDATE', () => first.stop('job-1'));
  t.like(stopped, { ok: true, delivered: false, reason: 'stopped' }, 'left to a scheduler with the backend');
  t.deepEqual(here.stopped, [], 'not run by the scheduler that got the late answer');
  t.deepEqual(await redelivered(), [['job-1', 'stopped', true]], 'run once, by the pass that took the lapsed record');
});

test('PostgreSQL: ends a pass hands out after their delivery lease lapsed are left to the next pass, and delivered once', async (t) => {
  const { here, there, first, underLock, redelivered } = await twoSchedulers(t, '200ms');
  await sleep(300); // job-1 goes silent past its timeout
  // The pass's statement takes its clock, then waits for the history table, which it writes.
  await underLock('LOCK TABLE SCHEMA.task_semaphore_history IN ACCESS EXCLUSIVE MODE', () => first.schedule());
  t.deepEqual(here.timedOut, [], 'not run by the scheduler whose pass answered late');
  t.deepEqual(here.stopped, []);
  t.deepEqual(await redelivered(), [['job-1', 'timeout', true]], 'run once, by the pass that took the lapsed record');
  t.is(here.timedOut.length + there.timedOut.length, 1);
});
