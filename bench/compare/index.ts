/**
 * `run.js compare`: task-semaphore and its peers measured side by side in one run. Plans the
 * measurements (plan.ts), runs each in a fresh process (run-child.ts, child.ts), and prints
 * today's table (table.ts) and the targets met or missed (targets.ts), as Markdown.
 */
import { availableParallelism, loadavg } from 'node:os';
import { fmt, table, type Row } from '../harness/format.js';
import { loadAverage, machineRows, shell } from '../harness/machine.js';
import type { Measurement, WorkloadInfo } from './model.js';
import { compareUsage, parseCompareOptions, type CompareOptions } from './options.js';
import { peerVersions } from './peers/index.js';
import { plan, selectContenders } from './plan.js';
import { runChild, runningChild } from './run-child.js';
import { contenderRows, detailLines, ratioRows, Results } from './table.js';
import { judgeAll } from './targets.js';
import { workloads } from './workloads/index.js';

const print = (text = '') => process.stdout.write(`${text}\n`);
const progress = (text: string) => process.stderr.write(`${text}\n`);

/** Runs the comparison; resolves to the exit code. */
export async function compareCommand(argv: readonly string[]): Promise<number> {
  let options: CompareOptions;
  try {
    const parsed = parseCompareOptions(argv);
    if (parsed === 'help') {
      process.stdout.write(compareUsage);
      return 0;
    }
    options = parsed;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${compareUsage}`);
    return 2;
  }

  const peers = peerVersions();
  let infos: WorkloadInfo[] = options.only.map((key) => {
    const info = workloads[key].describe(options, peers.versions);
    return { ...info, contenders: info.contenders.filter((c) => !c.peer || peers.versions[c.peer] !== undefined) };
  });
  try {
    infos = selectContenders(infos, options.contenders);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 2;
  }
  const steps = plan(infos, options.rounds);

  let interrupted = false;
  process.stdout.on('error', () => {}); // a closed pipe (`| head`) must not stop the run's cleanup
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      progress(`\n${signal}: stopping after the measurement under way (it cleans up after itself)`);
      runningChild()?.kill(signal);
    });
  }

  const began = performance.now();
  print('# task-semaphore and its peers, side by side\n');
  print(`command: ${commandLine()}\n`);
  const machine = await machineRows({ redis: true, postgres: true });
  machine.splice(2, 0, { item: 'nproc', value: shell('nproc') });
  machine.push({
    item: 'peers (bench/node_modules)',
    value: `${peers.described.join(', ')}; run on Node ${process.versions.node}`,
  });
  print(table(machine));
  print(
    `\n${options.rounds} rounds of ${steps.length / options.rounds} measurements each, every one in a fresh process; ` +
      'each round runs every workload’s contenders one after the other, starting one contender later than the round before. ' +
      'Cells are the median (min–max) over rounds; each ratio ours ÷ peer is taken within one round, then summarized.',
  );
  for (const note of peers.notes) print(`\nnote: ${note}`);

  const measurements: Measurement[] = [];
  for (const [i, step] of steps.entries()) {
    if (interrupted) break;
    const info = infos.find((w) => w.key === step.workload)!;
    const m = await runChild(step, options);
    measurements.push(m);
    const first = info.metrics[0]!;
    const figure = m.error !== undefined ? `FAILED: ${m.error}` : `${fmt(m.metrics[first.key] ?? NaN, first.decimals)} ${first.label}`;
    progress(
      `[${i + 1}/${steps.length}, round ${step.round + 1}] ${step.workload} ${step.contender}: ${figure} (${fmt(m.seconds, 1)} s, load ${fmt(m.load[1], 2)})`,
    );
  }

  const results = new Results(measurements);
  print(
    `\nload average (1/5/15 min) at the end: ${loadAverage()}${interrupted ? ' (INTERRUPTED: the tables hold the rounds run so far)' : ''}`,
  );
  for (const info of infos) print(workloadSection(info, results));
  const judged = judgeAll(
    results,
    infos.map((info) => info.key),
    options,
  );
  print('\n## Targets\n');
  print('Judged on the medians of this run (ratios: the median of the per-round ratios); not asserted anywhere.\n');
  print(table(judged.rows));
  for (const violation of judged.violations) print(`\n**${violation}**`);
  const failed = measurements.filter((m) => m.error !== undefined).length;
  print(
    `\n(${measurements.length} measurements${failed ? `, ${failed} FAILED` : ''} in ${fmt((performance.now() - began) / 60_000, 1)} min; load average 1 min at start of each: ${summaryOfLoad(measurements)})`,
  );
  return interrupted ? 130 : 0;
}

function workloadSection(info: WorkloadInfo, results: Results): string {
  const parts = [`\n## ${info.title}\n`, table(contenderRows(info, results))];
  const ratios: Row[] = ratioRows(info, results);
  if (ratios.length > 0) parts.push('', table(ratios));
  const lines = [...detailLines(info, results), ...info.notes.map((note) => `- ${note}`)];
  if (lines.length > 0) parts.push('', ...lines);
  return parts.join('\n');
}

function commandLine(): string {
  return `node ${process.argv
    .slice(1)
    .map((a) => a.replace(process.cwd() + '/', ''))
    .join(' ')}`;
}

function summaryOfLoad(measurements: readonly Measurement[]): string {
  if (measurements.length === 0) return '-';
  const loads = measurements.map((m) => m.load[0]);
  return `${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)} (now ${fmt(loadavg()[0]!, 2)}, ${availableParallelism()} cpus)`;
}
