/**
 * The jobs' figures of Procrastinate fault runs as a table, beside the slots' table of summary.ts:
 * what the jobs table showed while the fleet ran and once the queue drained.
 */
import type { ProcrastinateReport } from './procrastinate-checker.js';
import type { RunResult } from './harness/run-scenario.js';

/** One row per Procrastinate run (others are left out). */
export function formatJobFigures(results: readonly RunResult[]): string {
  const header = [
    'scenario',
    'jobs deferred',
    'final statuses',
    'recovered (stalled)',
    'hand-backs',
    'doing samples',
    'doing max (counted / all)',
    'samples with rows set aside',
  ];
  const rows = results
    .filter((result) => 'jobs' in result.report)
    .map(({ scenario, report }) => {
      const { jobs } = report as ProcrastinateReport;
      const statuses = Object.entries(jobs.statuses)
        .sort()
        .map(([status, n]) => `${status} ${n}`)
        .join(', ');
      return [
        scenario.name,
        String(jobs.deferred),
        statuses || 'none',
        String(jobs.recovered),
        String(jobs.handBacks),
        String(jobs.samples),
        `${jobs.maxDoingCounted} / ${jobs.maxDoing}`,
        String(jobs.samplesWithExcusedRows),
      ];
    });
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
