/**
 * The range form of a config file's slots: `slotIds: "1-8"`, `"1-4,7"` or `["a", "b"]` stands for
 * one slot per id, each with the entry's other fields.
 */
import type { JsonShape } from '../core/option-schema.js';
import { slotIdProblem } from '../scheduler/config.js';

/** The most ids one entry may stand for: a typo such as `1-80000` should not make 80000 slots. */
export const maxSlotIdsPerEntry = 10_000;

const range = /^(0|[1-9]\d*)-(0|[1-9]\d*)$/;

export const slotIdsAllowed =
  'allowed: a range such as "1-8", a comma-separated list of ranges and ids such as "1-4,7,vip", or an array of ids';

/** The JSON Schema of `slotIds`; the checks are {@link expandSlotIds}. */
export const slotIdsJson: JsonShape = {
  anyOf: [
    { type: 'string', pattern: '^\\s*[\\w.:-]+(\\s*,\\s*[\\w.:-]+)*\\s*$' },
    {
      type: 'array',
      items: { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^[\\w.:-]{1,128}$' }] },
      minItems: 1,
      uniqueItems: true,
    },
  ],
  description: `${slotIdsAllowed.slice('allowed: '.length)}; one slot per id, each with the entry's other fields`,
};

/**
 * The ids `slotIds` stands for, in order, or what is allowed. In a string, a part of two whole
 * numbers joined by `-` is a range (both ends included); any other part is one id. In an array,
 * each element is one id as given.
 */
export function expandSlotIds(value: unknown): { ids: string[] } | { problem: string } {
  let parts: { id?: string; from?: number; to?: number }[];
  if (typeof value === 'string') {
    parts = [];
    for (const text of value.split(',').map((part) => part.trim())) {
      const bounds = range.exec(text);
      if (bounds) {
        const [from, to] = [Number(bounds[1]), Number(bounds[2])];
        if (from > to) return { problem: `the range "${text}" runs backwards; ${slotIdsAllowed}` };
        parts.push({ from, to });
      } else if (/^\d+-\d+$/.test(text)) {
        // `01-08` is neither a range (leading zeros) nor meant as one id.
        return { problem: `"${text}" is no range: its ends are whole numbers without leading zeros; ${slotIdsAllowed}` };
      } else if (slotIdProblem(text) === undefined) {
        parts.push({ id: text });
      } else {
        return { problem: `"${text}" is no slot id (1 to 128 letters, digits, _ . : -) and no range; ${slotIdsAllowed}` };
      }
    }
  } else if (Array.isArray(value) && value.length > 0) {
    parts = [];
    for (const id of value) {
      if (slotIdProblem(id) !== undefined) return { problem: `${JSON.stringify(id)} is no slot id; ${slotIdsAllowed}` };
      parts.push({ id: String(id) });
    }
  } else {
    return { problem: slotIdsAllowed };
  }
  const count = parts.reduce((sum, part) => sum + (part.id === undefined ? part.to! - part.from! + 1 : 1), 0);
  if (count > maxSlotIdsPerEntry) {
    return { problem: `that is ${count} slots; at most ${maxSlotIdsPerEntry} in one entry` };
  }
  const ids = parts.flatMap((part) =>
    part.id !== undefined ? [part.id] : Array.from({ length: part.to! - part.from! + 1 }, (_, i) => String(part.from! + i)),
  );
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) return { problem: `the id "${id}" appears twice; each slot id once` };
    seen.add(id);
  }
  return { ids };
}
