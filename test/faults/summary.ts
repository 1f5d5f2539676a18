/**
 * The figures of fault runs as a table: one row per run, then the violations found, by kind, with
 * the first few of each.
 */
import type { CheckReport, Overrun } from './checker.js';
import type { RunResult } from './harness/run-scenario.js';

const max = (values: number[]) => (values.length > 0 ? Math.max(...values) : 0);

/** How many overruns, the longest overlap, and the longest time a task took to stop after waking (or the store's return). */
const overruns = (list: readonly Overrun[]) =>
  `${list.length} (${max(list.map((o) => o.overlapMs))} / ${max(list.map((o) => o.noticeMs))})`;

/** The ends and tasks the checker counted apart, by why (only those that occurred). */
function endsApart(tolerated: CheckReport['tolerated']): string {
  const counts: Array<[string, number]> = [
    ['undelivered (killed deliverer)', tolerated.undeliveredAfterKill],
    ['tasks not requeued (killed deliverer)', tolerated.lostWithKilledDeliverer],
    ['lost with the store state', tolerated.lostWithState],
    ['orphan', tolerated.orphanEnds],
    ['second end after state loss', tolerated.secondEndAfterStateLoss],
    ['duplicate started after its holder ended', tolerated.duplicateAfterHolderEnded],
  ];
  return (
    counts
      .filter(([, n]) => n > 0)
      .map(([what, n]) => `${what} ${n}`)
      .join(', ') || '0'
  );
}

/** The runs as a Markdown table. */
export function formatSummary(results: readonly RunResult[]): string {
  const header = [
    'scenario',
    'seed',
    'run s',
    'faults injected',
    'killed',
    'tasks done/fed (cancelled)',
    'executions',
    'violations',
    'stall overruns: n (max overlap / after waking, ms)',
    'unjudged overruns',
    'state-loss overruns',
    'ends counted apart',
    'redelivered ends',
    'recovery ms (last / max)',
  ];
  const rows = results.map(({ scenario, report }) => {
    const f = report.figures;
    const tolerated = report.tolerated;
    const faults = Object.entries(f.faults)
      .sort()
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    const violations = Object.entries(report.byKind)
      .map(([kind, n]) => `${kind} ${n}`)
      .join(', ');
    return [
      scenario.name,
      String(scenario.seed),
      (f.durationMs / 1000).toFixed(0),
      faults || 'none',
      String(f.processesKilled),
      `${f.completed}/${f.fed}${f.cancelled > 0 ? ` (${f.cancelled})` : ''}`,
      String(f.executions),
      violations || '0',
      overruns(tolerated.stallOverruns),
      overruns(tolerated.unjudgedOverruns),
      overruns(tolerated.stateLossOverruns),
      endsApart(report.tolerated),
      String(f.redeliveries),
      `${f.recoveryMs ?? 'never'} / ${max(f.recoveriesMs)}`,
    ];
  });
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  for (const { scenario, runDir, report } of results) {
    if (report.violations.length === 0) continue;
    lines.push('', `${scenario.name} (seed ${scenario.seed}): ${report.violations.length} violations; journal kept in ${runDir}`);
    const shown = new Map<string, number>();
    for (const v of report.violations) {
      const n = shown.get(v.kind) ?? 0;
      shown.set(v.kind, n + 1);
      if (n < 5) lines.push(`  ${v.kind} at ${v.at} ms: ${v.message}`);
    }
  }
  return lines.join('\n');
}
