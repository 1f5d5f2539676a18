/**
 * The log of `task-semaphore run` (`Service`): readable text on a terminal, JSON otherwise, unless
 * the file or the options say which.
 */
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Service } from '../../src/service/service.js';
import { uniqueName } from '../helpers/services.js';
import { fixtures } from './service-kit.js';

/** Starts a service of one memory slot logging to a stream that is a terminal or not; returns its first line. */
async function firstLine(isTTY: boolean, format?: 'json' | 'text'): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'ts-logs-')), 'task-semaphore.json');
  const backends = { rec: { module: join(fixtures, 'recording-backend.js'), export: 'RecordingBackend' } };
  const log = format === undefined ? {} : { log: { format } };
  writeFileSync(
    file,
    JSON.stringify({ scheduler: { name: uniqueName('logs') }, slots: [{ slotId: 1, backends: ['rec'] }], backends, ...log }),
  );
  const stream = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const service = await Service.start({ config: file, logStream: stream });
  await service.shutdown();
  return text.split('\n')[0]!;
}

test('on a terminal the log is readable text; elsewhere one JSON object per line; log.format decides when given', async (t) => {
  t.regex(await firstLine(true), /^\d{4}-\d\d-\d\dT\S+Z info {2}config loaded scheduler=\S+ slots=1/);
  t.like(JSON.parse(await firstLine(false)), { level: 'info', message: 'config loaded', slots: 1 });
  t.like(JSON.parse(await firstLine(true, 'json')), { message: 'config loaded' });
  t.regex(await firstLine(false, 'text'), / info {2}config loaded /);
});
