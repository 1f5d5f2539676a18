/**
 * `Service.reload()` as SIGHUP runs it: what it applies, and what it names as needing a restart,
 * again at every reload until the process restarts (the running options are what count).
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Service } from '../../src/service/service.js';
import { uniqueName } from '../helpers/services.js';
import { fixtures } from './service-kit.js';

/** A config of memory slots and one backend of the fixture module. */
function config(name: string, changes: { timeout?: string; label?: string; slotIds?: string } = {}) {
  return {
    scheduler: { name, timeout: changes.timeout ?? '1m' },
    slots: [{ slotIds: changes.slotIds ?? '1', backends: ['rec'] }],
    backends: {
      rec: { module: join(fixtures, 'recording-backend.js'), export: 'RecordingBackend', options: { label: changes.label ?? 'a' } },
    },
    log: { level: 'info', format: 'json' },
  };
}

/** Starts the service of `file`, its JSON log lines collected as they come. */
async function startService(t: ExecutionContext, file: string) {
  const logs = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  logs.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const service = await Service.start({ config: file, logStream: logs });
  t.teardown(() => service.scheduler.close());
  return { service, lines };
}

test('a reload names the changes that need a restart at every reload until then, and applies the rest', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'ts-reload-')), 'task-semaphore.json');
  const name = uniqueName('reload');
  const write = (c: object) => writeFileSync(file, JSON.stringify(c));
  write(config(name));
  const { service, lines } = await startService(t, file);

  write(config(name, { timeout: '2m' }));
  t.like(await service.reload(), { applied: true, changes: [], needRestart: ['scheduler.timeout'] });
  t.like(await service.reload(), { applied: true, changes: [], needRestart: ['scheduler.timeout'] }, 'still not applied');

  write(config(name, { timeout: '2m', label: 'b', slotIds: '1-2' }));
  t.like(await service.reload(), { applied: true, changes: ['slots: 1 → 2'], needRestart: ['scheduler.timeout', 'backends.rec'] });
  t.deepEqual(
    (await service.scheduler.inspect()).map((slot) => slot.slotId),
    ['1', '2'],
  );

  write({ ...config(name), http: { port: 0 } });
  t.like(
    await service.reload(),
    { applied: true, changes: ['slots: 2 → 1'], needRestart: ['http'] },
    'the endpoint starts with the process',
  );
  t.is(service.http, undefined);

  write(config(name));
  t.like(await service.reload(), { applied: true, changes: [], needRestart: [] }, 'back to what runs: nothing to restart for');
  const warnings = lines.filter((line) => line.message === 'reload: these changes need a restart to apply');
  t.deepEqual(
    warnings.map((line) => line.needRestart),
    [['scheduler.timeout'], ['scheduler.timeout'], ['scheduler.timeout', 'backends.rec'], ['http']],
  );
  await service.shutdown();
});

test('an invalid file changes nothing: each of its problems is logged, the running slots stay', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'ts-reload-')), 'task-semaphore.json');
  const name = uniqueName('reload');
  writeFileSync(file, JSON.stringify(config(name, { slotIds: '1-2' })));
  const { service, lines } = await startService(t, file);

  const bad = config(name, { timeout: '2 minutes' });
  writeFileSync(file, JSON.stringify({ ...bad, slots: [{ slotIds: '1-4', backends: ['rce'] }], cron: 'hourly' }));
  t.like(await service.reload(), { applied: false });
  const refused = lines.find((line) => line.message === 'reload refused: the config file is invalid; the running config stays');
  t.deepEqual(
    (refused?.issues as string[]).map((issue) => issue.split(':')[0]),
    ['scheduler.timeout', 'slots[0].backends[0]', 'cron'],
  );
  t.deepEqual(
    (await service.scheduler.inspect()).map((slot) => slot.slotId),
    ['1', '2'],
  );
  await service.shutdown();
});
