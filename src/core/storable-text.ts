/**
 * Text every store keeps exactly as given. PostgreSQL's `text` and `jsonb` cannot hold NUL, and a
 * lone UTF-16 surrogate has no UTF-8 form: PostgreSQL refuses it in JSON and `pg` and ioredis
 * send it as U+FFFD, so what is read back is not what was written.
 */

/** Node 20 has `isWellFormed` (ES2024); TypeScript's Node 20 lib does not declare it yet. */
type WellFormedString = string & { isWellFormed(): boolean };

/** Why `text` would not be stored as given (e.g. `contains a NUL character`), or null when it would. */
export function unstorableTextProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character';
  if (!(text as WellFormedString).isWellFormed()) return 'contains a lone UTF-16 surrogate (not well-formed Unicode)';
  return null;
}
