/**
 * A measuring process: the runner forks one per measurement, so that no contender inherits
 * another's heap, JIT or connections. It gets its spec over IPC, measures one contender once
 * with keys and schemas of its own, removes them, and sends the result back.
 */
import { cleanupRunId, Services } from '../harness/services.js';
import { killFleets } from './fleet.js';
import type { Measured, WorkloadKey } from './model.js';
import type { CompareOptions } from './options.js';
import { workloads } from './workloads/index.js';

export interface RunSpec {
  workload: WorkloadKey;
  contender: string;
  /** Names this measurement's key prefix and schemas (see `Services`), so that the runner can clean up after it. */
  runId: string;
  options: CompareOptions;
}

export type ChildReply = { type: 'result'; measured: Measured } | { type: 'failed'; error: string };

let services: Services | undefined;

async function run(spec: RunSpec): Promise<void> {
  services = new Services(false, spec.runId);
  let reply: ChildReply;
  try {
    reply = { type: 'result', measured: await workloads[spec.workload].run(spec.contender, { services, options: spec.options }) };
  } catch (error) {
    process.stderr.write(
      `${spec.workload} ${spec.contender}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    reply = { type: 'failed', error: error instanceof Error ? error.message : String(error) };
  }
  killFleets();
  // The Services' own cleanup, then everything else named after the run id (a peer's keys and
  // schemas made without it, e.g. BullMQ's): the runner's check after this process finds nothing.
  await services
    .cleanup()
    .then(() => cleanupRunId(spec.runId))
    .catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`));
  process.send!(reply, () => process.exit(0));
}

process.once('message', (message: { type: 'run'; spec: RunSpec }) => void run(message.spec));
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // Once, but kept: a second signal (Ctrl-C reaches the runner and this process alike) must not
  // kill this process before its cleanup.
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    // What was running fails as its connections go (peers' background writes reject unhandled):
    // expected now, and no reason to stop the cleanup.
    process.on('unhandledRejection', () => {});
    process.on('uncaughtException', () => {});
    killFleets();
    void (services?.cleanup() ?? Promise.resolve('')).finally(() => process.exit(130));
  });
}
