/**
 * The figures of fault runs as a table: one row per run, then the violations found, by kind, with
 * the first few of each.
 */
import type { RunResult } from './harness/run-scenario.js';

const max = (values: number[]) => (values.length > 0 ? Math.max(...values) : 0);

/** The runs as a Markdown table. */
export function formatSummary(results: readonly RunResult[]): string {
  const header = [
    'scenario',
    'seed',
    'run s',
    'faults injected',
    'killed',
    'tasks done/fed',
    'executions',
    'violations',
    'stall overruns (max ms)',
    'unjudged overruns (max ms)',
    'state-loss overruns (max ms)',
    'undelivered ends',
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
      `${f.completed}/${f.fed}`,
      String(f.executions),
      violations || '0',
      `${tolerated.stallOverruns.length} (${max(tolerated.stallOverruns.map((o) => o.overlapMs))})`,
      `${tolerated.unjudgedOverruns.length} (${max(tolerated.unjudgedOverruns.map((o) => o.overlapMs))})`,
      `${tolerated.stateLossOverruns.length} (${max(tolerated.stateLossOverruns.map((o) => o.overlapMs))})`,
      String(tolerated.undeliveredAfterKill + tolerated.lostWithKilledDeliverer),
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
