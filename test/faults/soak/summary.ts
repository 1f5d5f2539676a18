/**
 * A soak's figures as Markdown: one row per run (tasks, throughput, violations, heap, handles,
 * store, errors from start to end), then each run's judged checks that failed, and its violations.
 */
import type { EventOf } from '../harness/events.js';
import type { SoakResult } from './run-soak.js';

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const handleCount = (s: EventOf<'sample'>) => Object.values(s.handles).reduce((a, b) => a + b, 0);
const errorCount = (s: EventOf<'sample'>) => s.errors.pass + s.errors.poll + s.errors.callback;
/** The store's counted figures, as `name a→b`. */
const storeCounts = (store: SoakResult['verdict']['store']) =>
  store === null
    ? 'none'
    : Object.keys(store.last)
        .filter((name) => !name.startsWith('bytes:'))
        .sort()
        .map((name) => `${name.replace(/^.*:(\{[^}]*\}:)?/, '')} ${store.first[name] ?? 0}→${store.last[name]}`)
        .join(', ');
const storeBytes = (store: SoakResult['verdict']['store']) =>
  store === null
    ? ''
    : Object.keys(store.last)
        .filter((name) => name.startsWith('bytes:'))
        .sort()
        .map((name) => `${name.slice('bytes:'.length)} ${mb(store.first[name] ?? 0)}→${mb(store.last[name]!)} MB`)
        .join(', ');

export function formatSoakSummary(results: readonly SoakResult[]): string {
  const header = [
    'soak',
    'seed',
    'fed s',
    'tasks done/fed',
    'tasks/s',
    'max at once',
    'violations',
    'heap after GC MB (start→end, per worker)',
    'handles (start→end)',
    'errors',
    'store counts (start→end)',
    'store bytes',
    'journal MB',
    'flat',
  ];
  const rows = results.map(({ plan, report, verdict, journalBytes }) => {
    const f = report.figures;
    const fedS = plan.durationMs / 1000;
    return [
      plan.name,
      String(plan.seed),
      fedS.toFixed(0),
      `${f.completed}/${f.fed}`,
      (f.completed / fedS).toFixed(1),
      String(f.maxConcurrent),
      Object.entries(report.byKind)
        .map(([kind, n]) => `${kind} ${n}`)
        .join(', ') || '0',
      verdict.workers.map((w) => `${mb(w.first.heapUsed)}→${mb(w.last.heapUsed)}`).join(', '),
      verdict.workers.map((w) => `${handleCount(w.first)}→${handleCount(w.last)}`).join(', '),
      String(verdict.workers.reduce((sum, w) => sum + errorCount(w.last), 0)),
      storeCounts(verdict.store),
      storeBytes(verdict.store),
      mb(journalBytes),
      verdict.failures.length === 0 ? 'yes' : `NO (${verdict.failures.length})`,
    ];
  });
  const lines = [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`);
  for (const { plan, runDir, report, verdict } of results) {
    if (verdict.failures.length === 0 && report.violations.length === 0) continue;
    lines.push('', `${plan.name} (seed ${plan.seed}): journal kept in ${runDir}`);
    for (const failure of verdict.failures) lines.push(`  not flat: ${failure}`);
    for (const v of report.violations.slice(0, 10)) lines.push(`  ${v.kind} at ${v.at} ms: ${v.message}`);
  }
  return lines.join('\n');
}
