/**
 * A process of a multi-process workload (W4, W7): waits for its role over IPC, sets it up, and
 * answers the measuring process's commands (see fleet.ts). It exits when told to close, when it
 * fails (after saying why), and when the measuring process goes away.
 */
import type { FleetMember, FleetMessage } from './fleet.js';
import { w4Member, type W4Role } from './workloads/w4-global.js';
import { w7Member, type W7Role } from './workloads/w7-fan-in.js';

const send = (message: FleetMessage) => {
  if (process.connected) process.send!(message);
};
let member: FleetMember | undefined;

async function handle(message: { type: string; role?: W4Role | W7Role }): Promise<void> {
  if (message.type === 'setup') {
    const role = message.role!;
    member = role.workload === 'W4' ? await w4Member(role, send) : await w7Member(role);
    send({ type: 'ready' });
  } else if (message.type === 'go') await member!.go();
  else if (message.type === 'mark') member!.mark?.();
  else if (message.type === 'report') send({ type: 'report', report: await member!.report() });
  else if (message.type === 'close') {
    await member!.close();
    process.exit(0);
  }
}

function fail(error: unknown): void {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  setTimeout(() => process.exit(1), 200);
}

process.on('message', (message: { type: string; role?: W4Role | W7Role }) => void handle(message).catch(fail));
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
// The measuring process died or was interrupted: nothing here is worth finishing.
process.on('disconnect', () => process.exit(1));
