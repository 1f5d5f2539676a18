/**
 * A slot as people read it, shared by the command line (`status`) and HTTP (`/slots`, the board):
 * the store's state, its holder split into host and pid, and the time left.
 */
import { expiryOf } from '../contracts/store.js';
import type { InspectedSlot } from '../scheduler/scheduler.js';

/** A slot as `status` shows it: the store's state, its holder split into host and pid, the time left. */
export interface SlotStatus extends Omit<InspectedSlot, 'configured'> {
  /** Whether the config file (`--config`) has the slot: false for one that drains or is stale; null without a file. */
  configured: boolean | null;
  holder: { host: string; pid: number | null } | null;
  /** Until the occupancy times out, by this host's clock (store times compared with Date.now()). */
  timeLeftMs: number | null;
}

/** A default owner id is `<host>:<pid>:<random>`; any other owner is shown whole as the host. */
export function holderOf(owner: string | null): SlotStatus['holder'] {
  if (owner === null) return null;
  const match = /^(.*):(\d+):[0-9a-f]+$/.exec(owner);
  return match ? { host: match[1]!, pid: Number(match[2]) } : { host: owner, pid: null };
}

export function slotStatus(slot: InspectedSlot, now: number, configured: ReadonlyMap<string, readonly string[]> | null): SlotStatus {
  const backends = configured?.get(slot.slotId);
  return {
    ...slot,
    configured: configured === null ? null : backends !== undefined,
    backends: backends ?? [],
    holder: holderOf(slot.owner),
    timeLeftMs: slot.occupancy ? expiryOf(slot.occupancy) - now : slot.leaseUntil === null ? null : slot.leaseUntil - now,
  };
}

/**
 * A slot of a scheduler that loaded its config, as HTTP shows it (`/slots`, the board): whether
 * it is configured and its backends come from that scheduler's own config.
 */
export function servedSlotStatus(slot: InspectedSlot, now: number): SlotStatus {
  return { ...slotStatus(slot, now, null), configured: slot.configured, backends: slot.backends };
}
