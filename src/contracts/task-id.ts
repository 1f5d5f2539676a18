/**
 * The task-id grammar, one for every store: a task id is a non-empty string of well-formed
 * Unicode (no lone UTF-16 surrogate), without NUL, of at most {@link maxTaskIdBytes} UTF-8 bytes.
 *
 * Why these rules: PostgreSQL `text` cannot hold NUL; Redis and PostgreSQL receive UTF-8, into
 * which a lone surrogate cannot be encoded (it arrives as U+FFFD, so the stored id is not the
 * one given); and a PostgreSQL btree entry must fit in a third of a page (about 2.7 kB), which
 * the unique index on (scheduler, task id) needs with room for the scheduler name. An id the
 * memory store would take is thus one every store takes, unchanged.
 */
import { TaskIdError } from '../core/errors.js';
import { unstorableTextProblem } from '../core/storable-text.js';

/** The most UTF-8 bytes a task id may have: well under PostgreSQL's btree entry limit. */
export const maxTaskIdBytes = 1024;

/** What the grammar allows, as error messages say it. */
const allowed = `a non-empty string of well-formed Unicode, without NUL, of at most ${maxTaskIdBytes} UTF-8 bytes`;

/** Why `value` is not a task id, e.g. `contains a NUL character`, or null when it is one. */
export function taskIdProblem(value: unknown): string | null {
  if (typeof value !== 'string') return 'is not a string';
  if (value.length === 0) return 'is empty';
  const unstorable = unstorableTextProblem(value);
  if (unstorable !== null) return unstorable;
  // Three bytes per UTF-16 unit at most: short ids skip the count.
  if (value.length * 3 > maxTaskIdBytes) {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > maxTaskIdBytes) return `is ${bytes} UTF-8 bytes long, over the maximum of ${maxTaskIdBytes}`;
  }
  return null;
}

/**
 * Returns `value` if it is a task id, else throws.
 * @param field - what the value was given as, for the message (e.g. `taskId`)
 * @throws {TaskIdError} (code `ERR_TASK_ID`) naming the field, the value cut short and the rule it breaks
 */
export function checkTaskId(value: unknown, field = 'taskId'): string {
  const problem = taskIdProblem(value);
  if (problem !== null) throw new TaskIdError(field, value, problem, allowed);
  return value as string;
}
