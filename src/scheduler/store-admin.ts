/**
 * The scheduler's admin calls on its name's stores: `history()`, `historySize()` and `purge()`. Like `keepalive`,
 * they work in a process that never loaded a config (a CLI, an admin script): the default slot
 * class's store is opened for them.
 */
import * as z from 'zod/mini';
import { newestHistory, normalizeHistoryQuery, type HistoryQuery } from '../contracts/history.js';
import type { HistoryRecord, PurgeResult } from '../contracts/store.js';
import { SchedulerStateError } from '../core/errors.js';
import { flag, integer, parseOptions, strictObject } from '../core/option-schema.js';
import type { ResolvedOptions } from './options.js';
import type { SchedulerState } from './scheduler-state.js';

const purgeSchema = strictObject({ force: z._default(flag(), false) }, 'allowed: an object with force, optional');

/** The most records `historySize()` counts by default: a bounded count stays cheap on a table of millions. */
export const historySizeLimit = 100_000;

const historySizeSchema = strictObject(
  { limit: z._default(integer(1, { allowed: 'allowed: a positive integer' }), historySizeLimit) },
  'allowed: an object with limit, optional',
);

/** How many records one slot class's store keeps (see {@link historySize}). */
export interface HistorySize {
  slotClass: string;
  records: number;
}

/**
 * The records of the stores the scheduler has open that match `query`, with the occupancies
 * running now, newest first: at most `query.limit` of them in all.
 * @throws {ConfigError} naming the field of a bad query; {@link SchedulerStateError} when the history is off
 */
export async function readHistory(state: SchedulerState, options: ResolvedOptions, query?: HistoryQuery): Promise<HistoryRecord[]> {
  const normalized = normalizeHistoryQuery(query);
  if (options.history === false) {
    throw new SchedulerStateError(`scheduler "${options.name}" keeps no history: its option \`history\` is false`);
  }
  await state.ensureStore();
  const lists: HistoryRecord[][] = [];
  for (const [slotCls, store] of state.stores) {
    if (!store.history) throw new SchedulerStateError(`the store of slot class ${slotCls} (${store.kind}) keeps no history`);
    lists.push(await store.history(normalized));
  }
  return newestHistory(lists, normalized.limit);
}

/**
 * How many history records each open store keeps for the name, counted no further than `limit`,
 * in the order the stores opened; a store that cannot count them (no `historySize`) is left out.
 * @throws {ConfigError} for bad options
 */
export async function historySize(state: SchedulerState, options?: { limit?: number }): Promise<HistorySize[]> {
  const { limit } = parseOptions(historySizeSchema, options ?? {}, (path) => `historySize(options${path ? `.${path}` : ''})`);
  await state.ensureStore();
  const sizes: HistorySize[] = [];
  for (const [slotClass, store] of state.stores) {
    if (store.historySize) sizes.push({ slotClass, records: await store.historySize(limit) });
  }
  return sizes;
}

/**
 * Removes everything the default slot class's store keeps of the scheduler name, unless slots
 * are busy and `force` is not set. Only from a scheduler that has no config loaded: one that runs
 * the name would be purging its own live state.
 * @throws {ConfigError} for bad options; {@link SchedulerStateError} on a loaded scheduler or a store without purge
 */
export async function purgeName(state: SchedulerState, options: ResolvedOptions, purge?: { force?: boolean }): Promise<PurgeResult> {
  const { force } = parseOptions(purgeSchema, purge ?? {}, (path) => `purge(options${path ? `.${path}` : ''})`);
  if (state.loaded) {
    throw new SchedulerStateError(
      `purge() on scheduler "${options.name}", which has loaded a config, would remove its own live state: purge from a scheduler that never called load() (e.g. the CLI)`,
    );
  }
  await state.ensureStore();
  const store = await state.storeOf(options.defaultSlotClass);
  if (!store.purge) throw new SchedulerStateError(`the store of slot class ${options.defaultSlotClass} (${store.kind}) cannot purge`);
  return store.purge({ force });
}
