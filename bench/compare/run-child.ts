/**
 * The runner's side of a measuring process: forks child.ts, sends it the spec, waits for its
 * result (stopping it after the timeout), and cleans up whatever it may have left by its run id.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cleanupRunId } from '../harness/services.js';
import type { ChildReply, RunSpec } from './child.js';
import type { Measurement } from './model.js';
import type { Step } from './plan.js';
import type { CompareOptions } from './options.js';

const childPath = fileURLToPath(new URL('./child.js', import.meta.url));
let current: ChildProcess | undefined;

/** The measuring process running now, if any: the runner passes an interrupt on to it. */
export const runningChild = () => current;

/** Measures `step` in a fresh process. A child that fails, exits or times out gives a failed measurement. */
export async function runChild(step: Step, options: CompareOptions): Promise<Measurement> {
  const runId = randomBytes(5).toString('hex');
  const spec: RunSpec = { workload: step.workload, contender: step.contender, runId, options };
  const loadBefore = loadavg()[0]!;
  const began = performance.now();
  const execArgv = options.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`];
  const child = fork(childPath, [], { stdio: ['ignore', 2, 2, 'ipc'], execArgv });
  current = child;
  let reply: ChildReply | undefined;
  child.on('message', (message: ChildReply) => (reply ??= message));
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  child.send({ type: 'run', spec });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, options.childTimeout * 1000);
  const how = await exited;
  clearTimeout(timer);
  current = undefined;
  const seconds = (performance.now() - began) / 1000;
  const left = await cleanupRunId(runId).catch((error: unknown) => `cleanup failed: ${String(error)}`);
  if (left) process.stderr.write(`  (${step.workload} ${step.contender} left keys or schemas behind, now removed: ${left})\n`);
  const base = {
    workload: step.workload,
    contender: step.contender,
    round: step.round,
    seconds,
    load: [loadBefore, loadavg()[0]!] as [number, number],
  };
  if (reply?.type === 'result') return { ...base, metrics: reply.measured.metrics, details: reply.measured.details };
  const error = timedOut
    ? `stopped after ${options.childTimeout} s (--child-timeout)`
    : reply?.type === 'failed'
      ? reply.error
      : `the measuring process exited (${how}) without a result`;
  return { ...base, metrics: {}, error };
}
