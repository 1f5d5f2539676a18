/**
 * Clock skew: every worker's wall clock minutes off (libfaketime, mixed signs, seeded), while
 * processes are killed and stopped. The stores keep the only clock that decides, so nothing
 * changes: no violation, and the slots of the dead and the stalled come back within a timeout
 * and a pass (the checker's liveness bound). The journal's ready lines show the skew really
 * reached `Date.now()` in each worker, and that the monotonic clock stayed true.
 */
import { rmSync } from 'node:fs';
import test from 'ava';
import { parseDuration } from '../../src/core/duration.js';
import { skewedFleet, skewsMinutes } from './harness/clock-skew.js';
import type { EventOf } from './harness/events.js';
import { readJournal } from './harness/journal.js';
import { Rng, randomSeed } from './harness/rng.js';
import { runScenario } from './harness/run-scenario.js';
import { storeKinds } from './harness/stores.js';
import { scenario } from './scenarios.js';
import { formatSummary } from './summary.js';

for (const store of storeKinds) {
  test.serial(
    `${store}: workers minutes off (mixed signs) under kill -9 and SIGSTOP: no violation, slots back within a timeout and a pass`,
    async (t) => {
      t.timeout(180_000);
      const durationMs = parseDuration(process.env.FAULTS_DURATION ?? '12s', 'FAULTS_DURATION');
      const seed = Number(process.env.FAULTS_SEED ?? randomSeed());
      const run = scenario(store, ['kill', 'stop'], { durationMs, seed });
      const minutes = skewsMinutes(new Rng(seed).fork('clock-skew'), run.fleet.workers);
      // The harness's own wall clock against the machine's monotonic one (the journal's stamps).
      const wallAtMonotonic = { wall: Date.now(), ns: Number(process.hrtime.bigint()) };
      const result = await runScenario(run, { teardown: t, keepRunDir: true, fleet: skewedFleet(minutes) });
      t.log(`skews (min): ${minutes.join(', ')}\n${formatSummary([result])}`);
      const replay = `seed ${seed} (FAULTS_SEED=${seed}), skews ${minutes.join(', ')} min; journal: ${result.runDir}`;
      t.deepEqual(result.report.violations, [], replay);
      t.is(result.unreadable, 0, replay);
      t.true(result.report.figures.processesKilled > 0, replay);
      t.true((result.report.figures.faults.stop ?? 0) > 0, replay);
      t.true((result.report.figures.stopCallbacks.timeout ?? 0) > 0, `the slots of the dead were reaped as timeouts; ${replay}`);

      // Each worker's Date.now() at ready, against the harness's wall clock at the same monotonic time.
      const { events } = readJournal(result.runDir);
      const memberOf = membersByPid(events);
      const readies = events.filter((e): e is EventOf<'ready'> => e.ev === 'ready');
      t.true(readies.length >= run.fleet.workers);
      const spawnedAt = new Map(events.flatMap((e) => (e.ev === 'spawn' ? [[e.child, e.t] as const] : [])));
      for (const ready of readies) {
        // The monotonic clock stayed true: the worker's ready line comes after its spawn, within the fleet's 30 s.
        const sinceSpawnMs = (ready.t - spawnedAt.get(ready.pid)!) / 1e6;
        t.true(
          sinceSpawnMs > 0 && sinceSpawnMs < 30_000,
          `worker ${ready.pid}: ready ${Math.round(sinceSpawnMs)} ms after its spawn by the journal's clock; ${replay}`,
        );
        const harnessWall = wallAtMonotonic.wall + (ready.t - wallAtMonotonic.ns) / 1e6;
        const skewMs = ready.wallMs! - harnessWall;
        const wanted = minutes[memberOf.get(ready.pid)!]! * 60_000;
        t.true(
          Math.abs(skewMs - wanted) < 2000,
          `worker ${ready.pid}: its clock is ${Math.round(skewMs)} ms off, ${wanted} ms wanted; ${replay}`,
        );
      }
      rmSync(result.runDir, { recursive: true, force: true });
    },
  );
}

/** The member index of every worker pid: the first spawns in order, then each replacement takes its predecessor's. */
function membersByPid(events: ReturnType<typeof readJournal>['events']): Map<number, number> {
  const member = new Map<number, number>();
  for (const e of events) if (e.ev === 'spawn') member.set(e.child, e.replaces === null ? member.size : member.get(e.replaces)!);
  return member;
}
