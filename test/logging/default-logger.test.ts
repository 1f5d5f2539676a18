/**
 * Errors are heard by default: a scheduler given no logger writes warnings and errors to stderr,
 * one line each with their fields, and nothing below warn; `logger: false` silences it. Each case
 * runs in a child process, since stderr is the process's.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const child = fileURLToPath(new URL('../helpers/logging-process.js', import.meta.url));

async function runWith(logger: 'default' | 'silent'): Promise<{ stdout: string; stderr: string }> {
  return exec(process.execPath, [child, logger], { timeout: 30_000 });
}

test('with no logger option, a failed poll is written to stderr as one line with its fields; info lines are not', async (t) => {
  const { stdout, stderr } = await runWith('default');
  t.deepEqual(JSON.parse(stdout), { started: 1 }, 'the pass went on after the failed poll');
  const lines = stderr.trimEnd().split('\n');
  const failed = lines.filter((line) => line.includes('poll failed'));
  t.is(failed.length, 1, stderr);
  t.regex(failed[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z error task-semaphore: poll failed \{.*\}$/);
  const fields = JSON.parse(failed[0]!.slice(failed[0]!.indexOf('{'))) as Record<string, unknown>;
  t.like(fields, { scheduler: 'logging-process', backend: 'Broken', slotId: '1', error: 'reports database is down' });
  t.regex(String(fields.stack), /reports database is down\n\s+at /, 'the stack is kept, escaped onto the one line');
  t.true(
    lines.every((line) => / (warn|error) task-semaphore: /.test(line)),
    `only warn and error lines: ${stderr}`,
  );
  t.false(stderr.includes('task started'), 'info lines stay off');
});

test('logger: false writes nothing', async (t) => {
  const { stdout, stderr } = await runWith('silent');
  t.deepEqual(JSON.parse(stdout), { started: 1 });
  t.is(stderr, '');
});
