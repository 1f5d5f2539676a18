/**
 * `task-semaphore run` as an operator runs it: a real child process on the real Redis, stopped by
 * SIGTERM (once, twice), reloaded by SIGHUP with tasks running, and fed bad config files. The store
 * is read from this side afterwards: no slot stays held for a task the process no longer runs.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Scheduler } from '../../src/index.js';
import { redisUrl, uniqueName } from '../helpers/services.js';
import { cliPath, runCli } from './run-cli.js';

const workBackend = fileURLToPath(new URL('../fixtures/run/work-backend.js', import.meta.url));

interface Setup {
  file: string;
  name: string;
  keyPrefix: string;
  /** Rewrites the config file (for a reload). */
  write: (config: object) => void;
  config: (tasks: string[], slotIds: string, shutdown?: { graceful: string; final: string }) => object;
}

function setup(t: ExecutionContext): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'ts-run-'));
  const file = join(dir, 'task-semaphore.json');
  const name = uniqueName('run');
  const keyPrefix = uniqueName('run');
  const config = (tasks: string[], slotIds: string, shutdown = { graceful: '1s', final: '2s' }) => ({
    scheduler: { name, redis: redisUrl, keyPrefix, timeout: '1m' },
    slots: [{ slotIds, backends: ['work'] }],
    backends: { work: { module: workBackend, export: 'WorkBackend', options: { tasks } } },
    cron: '*/1 * * * * *',
    log: { level: 'info', format: 'json' },
    shutdown,
  });
  t.log(file);
  return { file, name, keyPrefix, write: (c) => writeFileSync(file, JSON.stringify(c, null, 2)), config };
}

/** A running `task-semaphore run`: its JSON log lines as they come, its exit. */
class Run {
  readonly lines: Array<Record<string, unknown>> = [];
  readonly exited: Promise<{ code: number | null; at: number }>;
  readonly child: ChildProcess;
  stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [cliPath, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let buffer = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve({ code, at: Date.now() })));
  }

  count(message: string): number {
    return this.lines.filter((line) => line.message === message).length;
  }

  async until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log: ${JSON.stringify(this.lines)} ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Reads the name's slots from this side, as another host would. */
async function slotsOf(s: Setup) {
  const reader = new Scheduler({ name: s.name, redis: redisUrl, keyPrefix: s.keyPrefix, logger: false });
  try {
    return { slots: await reader.inspect(), history: await reader.history() };
  } finally {
    await reader.close();
  }
}

test('SIGTERM: finishing tasks finish, the others are aborted (cause shutdown) and stop; exit 0, no slot held', async (t) => {
  const s = setup(t);
  s.write(s.config(['quick-500', 'honour-a', 'honour-b'], '1-3', { graceful: '2s', final: '5s' }));
  const run = new Run(['--config', s.file]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await run.until('3 tasks started', () => run.count('task started') === 3);
  const sent = Date.now();
  run.child.kill('SIGTERM');
  const { code, at } = await run.exited;
  t.is(code, 0, run.stderr);
  t.true(at - sent >= 1900, `exited after ${at - sent} ms: the tasks that do not finish by themselves get the whole grace`);
  t.true(at - sent < 7000, `exited after ${at - sent} ms: once aborted, they stopped`);
  const { slots, history } = await slotsOf(s);
  t.true(slots.every((slot) => slot.status === 'idle'));
  const outcomes = Object.fromEntries(history.map((r) => [r.taskId, [r.outcome, r.error]]));
  t.deepEqual(outcomes['quick-500'], ['succeeded', null]);
  t.is(outcomes['honour-a']![0], 'failed');
  t.regex(String(outcomes['honour-a']![1]), /should stop: shutdown/);
  t.true(run.count('signal received') === 1);
});

test('tasks that ignore the abort are dropped at the final deadline: exit 6, slots free, history says dropped', async (t) => {
  const s = setup(t);
  s.write(s.config(['ignore-a', 'honour-b'], '1-2', { graceful: '500ms', final: '1s' }));
  const run = new Run(['--config', s.file]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await run.until('2 tasks started', () => run.count('task started') === 2);
  const sent = Date.now();
  run.child.kill('SIGTERM');
  const { code, at } = await run.exited;
  t.is(code, 6, run.stderr);
  t.true(at - sent >= 1400 && at - sent < 10_000, `exited after ${at - sent} ms`);
  const { slots, history } = await slotsOf(s);
  t.true(
    slots.every((slot) => slot.status === 'idle'),
    'no slot stays held for a task the process no longer runs',
  );
  t.like(
    history.find((r) => r.taskId === 'ignore-a'),
    { outcome: 'dropped', reason: 'dropped' },
  );
  t.like(
    history.find((r) => r.taskId === 'honour-b'),
    { outcome: 'failed', reason: 'stopped' },
  );
});

test('a second SIGTERM aborts at once instead of waiting out the grace', async (t) => {
  const s = setup(t);
  s.write(s.config(['honour-a', 'honour-b'], '1-2', { graceful: '60s', final: '5s' }));
  const run = new Run(['--config', s.file]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await run.until('2 tasks started', () => run.count('task started') === 2);
  // Watched from the shell through the same file, as an operator on another host would.
  const status = await runCli(['status', '--config', s.file, '--json']);
  t.is(status.code, 0, status.stderr);
  const watched = JSON.parse(status.stdout) as Array<{ status: string; holder: { pid: number } }>;
  t.deepEqual(
    watched.map((slot) => [slot.status, slot.holder.pid]),
    [1, 2].map(() => ['running', run.child.pid]),
  );
  t.like(await runCli(['keepalive', 'honour-b', '--config', s.file]), { code: 0 });
  run.child.kill('SIGTERM');
  await run.until('the shutdown began', () => run.lines.some((line) => String(line.message).startsWith('shutting down')));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(run.child.exitCode, null, 'still waiting for its tasks after the first signal');
  const sent = Date.now();
  run.child.kill('SIGTERM');
  const { code, at } = await run.exited;
  t.is(code, 0, run.stderr);
  t.true(at - sent < 10_000, `exited ${at - sent} ms after the second signal`);
  t.true((await slotsOf(s)).slots.every((slot) => slot.status === 'idle'));
});

test('SIGHUP reloads the file with tasks running: new slots claim, removed ones drain; a bad file changes nothing', async (t) => {
  const s = setup(t);
  const tasks = ['honour-1', 'honour-2', 'honour-3', 'honour-4'];
  s.write(s.config(tasks, '1-2'));
  const run = new Run(['--config', s.file]);
  t.teardown(() => run.child.kill('SIGKILL'));
  await run.until('2 tasks started', () => run.count('task started') === 2);

  s.write(s.config(tasks, '1-4'));
  run.child.kill('SIGHUP');
  await run.until('4 tasks started', () => run.count('task started') === 4);
  t.true(run.lines.some((line) => line.message === 'config reloaded'));

  s.write(s.config(tasks, '1'));
  run.child.kill('SIGHUP');
  await run.until('the second reload', () => run.count('config reloaded') === 2);
  const drained = await slotsOf(s);
  t.is(drained.slots.filter((slot) => slot.status === 'running').length, 4, 'removed slots drain: their tasks run on');
  const status = await runCli(['status', '--config', s.file, '--json']);
  const shown = JSON.parse(status.stdout) as Array<{ slotId: string; status: string; configured: boolean }>;
  t.deepEqual(
    shown.map((slot) => [slot.slotId, slot.status, slot.configured]),
    [
      ['1', 'running', true],
      ['2', 'running', false],
      ['3', 'running', false],
      ['4', 'running', false],
    ],
  );
  t.regex((await runCli(['status', '--config', s.file])).stdout, /\n2\s+running \(not in config\)\s+honour-/);

  writeFileSync(s.file, '{ "scheduler": { "name": 7 }, "slots": [ ');
  run.child.kill('SIGHUP');
  await run.until('the refused reload', () => run.count('reload refused: the config file is invalid; the running config stays') === 1);
  const refused = run.lines.find((line) => line.message === 'reload refused: the config file is invalid; the running config stays')!;
  t.regex(String(refused.error), /task-semaphore\.json:1:\d+: invalid JSON/);
  t.is((await slotsOf(s)).slots.filter((slot) => slot.status === 'running').length, 4);

  run.child.kill('SIGTERM');
  t.is((await run.exited).code, 0, run.stderr);
});

test('signals while starting: SIGHUP neither kills the process nor is lost; SIGTERM shuts down once started', async (t) => {
  const s = setup(t);
  // A config module that takes its time, so that the signals come while `run` reads it.
  const slow = join(s.file, '..', 'slow-config.mjs');
  const writeSlow = (tasks: string[], slotIds: string) =>
    writeFileSync(
      slow,
      `export default async () => {
        process.stderr.write('reading the config\\n');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return ${JSON.stringify(s.config(tasks, slotIds))};
      };\n`,
    );
  writeSlow(['honour-1', 'honour-2'], '1');
  const reloaded = new Run(['--config', slow]);
  t.teardown(() => reloaded.child.kill('SIGKILL'));
  await reloaded.until('the config being read', () => reloaded.stderr.includes('reading the config'));
  writeSlow(['honour-1', 'honour-2'], '1-2');
  reloaded.child.kill('SIGHUP');
  await reloaded.until('the reload after the start', () => reloaded.count('config reloaded') === 1);
  await reloaded.until('2 tasks started', () => reloaded.count('task started') === 2);
  reloaded.child.kill('SIGTERM');
  t.is((await reloaded.exited).code, 0, reloaded.stderr);

  const stopped = new Run(['--config', slow]);
  t.teardown(() => stopped.child.kill('SIGKILL'));
  await stopped.until('the config being read', () => stopped.stderr.includes('reading the config'));
  stopped.child.kill('SIGTERM');
  t.is((await stopped.exited).code, 0, stopped.stderr);
  t.true(stopped.lines.some((line) => line.message === 'signal received while starting' && line.signal === 'SIGTERM'));
  t.true(
    (await slotsOf(s)).slots.every((slot) => slot.status === 'idle'),
    'no slot held by the process that left',
  );
});

test('bad config files exit 2 listing every problem; config check says the same without running', async (t) => {
  const s = setup(t);
  const bad = s.config(['quick-1'], '1-2') as { scheduler: Record<string, unknown>; slots: Array<Record<string, unknown>> };
  bad.scheduler.timeout = '5 minutes';
  bad.scheduler.reddis = redisUrl;
  bad.slots[0]!.backends = ['wrok'];
  s.write(bad);
  const run = await runCli(['run', '--config', s.file]);
  t.is(run.code, 2);
  t.regex(run.stderr, /scheduler\.reddis/);
  t.regex(run.stderr, /scheduler\.timeout: got "5 minutes"/);
  t.regex(run.stderr, /slots\[0\]\.backends\[0\]: got "wrok"/);
  const check = await runCli(['config', 'check', s.file, '--json']);
  t.is(check.code, 2);
  t.deepEqual((JSON.parse(check.stdout) as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort(), [
    'scheduler.reddis',
    'scheduler.timeout',
    'slots[0].backends[0]',
  ]);
  s.write(s.config(['quick-1'], '1-2'));
  const ok = await runCli(['config', 'check', s.file]);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, `${s.file}: ok: scheduler "${s.name}", 2 slots, backends work\n`);
  const missing = await runCli(['run', '--config', join(s.file, '..', 'nope.json')]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /nope\.json: cannot read the config file/);
  const noConfig = await runCli(['run'], { TASK_SEMAPHORE_CONFIG: '' });
  t.is(noConfig.code, 2);
  t.regex(noConfig.stderr, /--config: .*allowed: the path of a config file/);
});

test('an unreachable store: run exits 1 naming it, without its password', async (t) => {
  const s = setup(t);
  const config = s.config(['quick-1'], '1') as { scheduler: Record<string, unknown> };
  config.scheduler.redis = 'redis://user:secret@127.0.0.1:1';
  s.write(config);
  const run = await runCli(['run', '--config', s.file]);
  t.is(run.code, 1);
  t.notRegex(run.stderr, /secret/);
  t.regex(run.stderr, /127\.0\.0\.1:1/);
});

test('--until-drained exits 0 once the work is done; --log-level and --log-format override the file', async (t) => {
  const s = setup(t);
  s.write(s.config(['quick-100', 'quick-200', 'quick-300'], '1-2'));
  const quiet = await runCli(['run', '--config', s.file, '--until-drained', '--log-level', 'warn']);
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.stdout, '', 'nothing below warn');
  t.is((await slotsOf(s)).history.filter((r) => r.outcome === 'succeeded').length, 3);

  s.write(s.config(['quick-100'], '1'));
  const text = await runCli(['run', '--config', s.file, '--until-drained', '--log-format', 'text']);
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /^\d{4}-\d\d-\d\dT\S+Z info {2}task started .*taskId=quick-100/m);
  t.regex(text.stdout, /info {2}drained: no backend has work and no task of ours runs/);
  const badLevel = await runCli(['run', '--config', s.file, '--log-level', 'loud']);
  t.is(badLevel.code, 2);
  t.regex(badLevel.stderr, /argument 'loud' is invalid\. Allowed choices are error, warn, info, http, verbose, debug, silly/);
});

test('the http section serves the endpoint: a task stops over HTTP, readyz turns 503 during the shutdown, the port closes', async (t) => {
  const s = setup(t);
  const token = 'run-command-test-token-0123';
  s.write({ ...s.config(['honour-1', 'ignore-2'], '1-2', { graceful: '1s', final: '1s' }), http: { port: 0, token: '${HTTP_TOKEN}' } });
  const run = new Run(['--config', s.file], { HTTP_TOKEN: token });
  t.teardown(() => run.child.kill('SIGKILL'));
  await run.until('the endpoint', () => run.count('HTTP endpoint listening') === 1);
  const url = String(run.lines.find((line) => line.message === 'HTTP endpoint listening')!.url);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'bound to loopback by default');
  t.false(JSON.stringify(run.lines).includes(token), 'the token is never logged');
  await run.until('2 tasks started', () => run.count('task started') === 2);

  t.is((await fetch(`${url}/healthz`)).status, 200);
  const stop = await fetch(`${url}/tasks/honour-1/stop`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'succeeded' }),
  });
  t.is(stop.status, 200);
  t.like(await stop.json(), { ok: true, taskId: 'honour-1', reason: 'stopped' });

  run.child.kill('SIGTERM');
  // ignore-2 holds the shutdown through its grace: meanwhile the endpoint says not ready.
  await run.until('the shutdown', () => run.count('signal received') === 1);
  const ready = await fetch(`${url}/readyz`);
  t.is(ready.status, 503);
  t.true(((await ready.json()) as { problems: string[] }).problems.includes('shutting down'));
  t.is((await run.exited).code, 6, run.stderr);
  await t.throwsAsync(fetch(`${url}/healthz`), undefined, 'closed with the process');
});
