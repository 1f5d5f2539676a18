/**
 * The `slots` section: each entry one slot as `scheduler.load()` takes it, or a range of them
 * (`slotIds`), checked by the API's own slot check; slot ids unique across every entry.
 */
import type { ConfigError } from '../core/errors.js';
import { collectOptions } from '../core/option-schema.js';
import { checkSlot, slotConfigShape, slotIdProblem, type ConfigDefaults, type SlotConfigInput } from '../scheduler/config.js';
import { slotRangeEntry } from './config-schema.js';
import type { IssueInput } from './errors.js';
import { isPlainObject } from './interpolate.js';
import { expandSlotIds } from './slot-ids.js';

/** Where problems go. */
export interface SlotsContext {
  defaults: ConfigDefaults;
  report(problem: IssueInput): void;
  reportErrors(errors: readonly ConfigError<string>[]): void;
}

const sectionAllowed = 'allowed: a non-empty array of slots, each { slotId, backends, … } or a range { slotIds: "1-8", backends, … }';

/** The slots of the section, ranges expanded to one slot each, in order. */
export function readSlots(section: unknown, context: SlotsContext): SlotConfigInput[] {
  if (!Array.isArray(section) || section.length === 0) {
    context.report({ path: 'slots', value: section, allowed: sectionAllowed });
    return [];
  }
  const slots: SlotConfigInput[] = [];
  /** Where each id was given first, to name both places of a duplicate. */
  const firstPlace = new Map<string, string>();
  const claim = (id: string | number, place: string, path: string) => {
    const first = firstPlace.get(String(id));
    if (first === undefined) return void firstPlace.set(String(id), place);
    context.report({ path, value: id, allowed: `slot ids must be unique; ${first} has the same id`, code: 'ERR_DUPLICATE_SLOT_ID' });
  };

  section.forEach((entry: unknown, index) => {
    const path = `slots[${index}]`;
    if (isPlainObject(entry) && 'slotIds' in entry) {
      const keys = collectOptions(slotRangeEntry, entry, path);
      if (!keys.ok) context.reportErrors(keys.errors);
      // The entry's own fields, the same for each slot of the range; unknown keys were reported above.
      const shared = Object.fromEntries(Object.entries(entry).filter(([key]) => key !== 'slotIds' && key in rangeFields));
      const expanded = expandSlotIds(entry.slotIds);
      if ('problem' in expanded) context.report({ path: `${path}.slotIds`, value: entry.slotIds, allowed: expanded.problem });
      const ids = 'ids' in expanded ? expanded.ids : [];
      // Checked once, for the first id: the other slots of the range differ only by theirs.
      context.reportErrors(checkSlot({ ...shared, slotId: ids[0] ?? '0' }, path, context.defaults).errors);
      const place = `${path}.slotIds (${JSON.stringify(entry.slotIds)})`;
      for (const id of ids) {
        claim(id, place, `${path}.slotIds`);
        slots.push({ ...shared, slotId: id } as unknown as SlotConfigInput);
      }
      return;
    }
    context.reportErrors(checkSlot(entry, path, context.defaults).errors);
    const id = isPlainObject(entry) ? (entry.slotId ?? entry.slot_id) : undefined;
    if (slotIdProblem(id) === undefined) {
      claim(id as string | number, `${path}.slotId`, `${path}.slotId`);
      slots.push(entry as unknown as SlotConfigInput);
    }
  });
  return slots;
}

/** The fields a range shares with each of its slots: a slot's, but its id. */
const rangeFields: Record<string, unknown> = Object.fromEntries(
  Object.keys(slotConfigShape)
    .filter((key) => key !== 'slotId' && key !== 'slot_id')
    .map((key) => [key, true]),
);
