/** What a user sees when things go wrong: errors that name the culprit, structured log lines. */
import test from 'ava';
import winston from 'winston';
import Transport from 'winston-transport';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { ScriptedBackend, waitFor } from '../../src/testing/scheduler-kit.js';
import { uniqueName } from '../helpers/services.js';

/** A winston transport that keeps every log entry. */
class Capture extends Transport {
  entries: Array<Record<string, unknown>> = [];
  override log(info: Record<string, unknown>, next: () => void): void {
    this.entries.push(info);
    next();
  }
}

function capturingLogger() {
  const capture = new Capture();
  return { capture, logger: winston.createLogger({ level: 'debug', transports: [capture] }) };
}

for (const [option, url] of [
  ['redis', 'redis://app:s3cret-pw@127.0.0.1:1'],
  ['postgres', 'postgres://app:s3cret-pw@127.0.0.1:1/test'],
] as const) {
  test(`an unreachable ${option} store names the URL without its password`, async (t) => {
    const scheduler = new Scheduler({ name: uniqueName(), [option]: url });
    scheduler.registerBackend('A', new ScriptedBackend());
    const error = await t.throwsAsync(scheduler.load([{ slotId: 1, backends: ['A'] }]), { instanceOf: StoreUnavailableError });
    t.regex(error.message, /127\.0\.0\.1:1/);
    t.false(error.message.includes('s3cret-pw'), error.message);
    t.false(JSON.stringify(error).includes('s3cret-pw'));
    await scheduler.close();
  });
}

test('log lines carry slotId, taskId, backend, token and reason, and a failed poll its stack', async (t) => {
  const { capture, logger } = capturingLogger();
  const good = new ScriptedBackend(['t1']);
  const broken = new ScriptedBackend();
  broken.onPoll = () => {
    throw new Error('source down');
  };
  const scheduler = new Scheduler({ name: uniqueName(), logger });
  t.teardown(() => scheduler.close());
  scheduler.registerBackend('Broken', broken).registerBackend('Good', good);
  await scheduler.load([{ slotId: 1, backends: ['Broken', 'Good'] }]);
  await scheduler.schedule();
  await scheduler.stop('t1', { status: 'succeeded' });
  await waitFor(() => capture.entries.some((e) => e.message === 'task ended'), 'the end to be logged');

  const pollFailure = capture.entries.find((e) => e.message === 'poll failed');
  t.like(pollFailure, { level: 'error', backend: 'Broken', slotId: '1', error: 'source down' });
  t.regex(String(pollFailure?.stack), /source down\n\s+at /);
  const started = capture.entries.find((e) => e.message === 'task started');
  t.like(started, { level: 'info', slotId: '1', taskId: 't1', backend: 'Good', token: good.started[0]!.token });
  t.like(
    capture.entries.find((e) => e.message === 'task ended'),
    { taskId: 't1', reason: 'stopped', status: 'succeeded' },
  );
  // Every line says which scheduler wrote it.
  t.true(capture.entries.every((e) => e.scheduler === scheduler.name));
});
