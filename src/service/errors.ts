/**
 * The error of a config file: every problem found in it at once, each naming where it is, the
 * bad value and what is allowed, so that one run of `config check` lists all there is to fix.
 */
import { ConfigError, describe, redactValue, type ConfigErrorCode } from '../core/errors.js';

/** One problem of a config file. */
export interface ConfigIssue {
  /** Where it is, as a user would write it: `slots[3].backends[0]`; `''` for the file as a whole. */
  path: string;
  /** The bad value as found (a connection URL's secrets hidden); undefined when it is missing. */
  value: unknown;
  /** What is allowed, or why the value could not be used (`cannot import ./x.js: …`). */
  allowed: string;
  /** The code of the check that failed: `ERR_CONFIG`, `ERR_BAD_DURATION`, `ERR_UNKNOWN_BACKEND`, … */
  code: string;
  /** Line and column (1-based) in the file, where known: a JSON syntax error. */
  line?: number;
  column?: number;
  /** The error behind it, such as the one a module threw on import. */
  cause?: unknown;
  /** The problem on one line: `slots[3].backends[0]: got "reprots"; unknown backend; registered: reports`. */
  message: string;
}

/**
 * A config file (or config object) that cannot be used. `issues` lists every problem found; the
 * message gives each on its own line, prefixed with the file's path (`task-semaphore.json: …`,
 * `task-semaphore.json:3:14: …` where the line is known). `field`, `value` and `allowed` are
 * those of the first issue.
 */
export class ConfigFileError extends ConfigError<'ERR_CONFIG_FILE'> {
  override name = 'ConfigFileError';
  declare readonly code: 'ERR_CONFIG_FILE';
  /** The file as it was given, or null for a config object given in code. */
  readonly source: string | null;
  readonly issues: readonly ConfigIssue[];

  constructor(source: string | null, issues: readonly ConfigIssue[]) {
    const first = issues[0]!;
    super(first.path, first.value, first.allowed, 'ERR_CONFIG_FILE');
    this.message = issues.map((issue) => lineOf(source, issue)).join('\n');
    if (first.cause !== undefined) Object.defineProperty(this, 'cause', { value: first.cause, configurable: true, writable: true });
    this.source = source;
    this.issues = issues;
  }
}

function lineOf(source: string | null, issue: ConfigIssue): string {
  const where = issue.line === undefined ? '' : `:${issue.line}:${issue.column ?? 1}`;
  return source === null ? issue.message : `${source}${where}: ${issue.message}`;
}

/** What an issue is built from: where, the value, what is allowed, and optionally the rest. */
export interface IssueInput {
  path: string;
  value?: unknown;
  allowed: string;
  code?: ConfigErrorCode | (string & {});
  line?: number;
  column?: number;
  cause?: unknown;
  /** The text a value was read from before `${NAME}` was replaced, said beside it. */
  template?: string;
}

/** An issue; its value is shown as errors show values, connection URLs' secrets hidden. */
export function issue(input: IssueInput): ConfigIssue {
  const value = redactValue(input.value);
  const shown =
    input.path === ''
      ? ''
      : `${input.path}: got ${describe(value)}${input.template === undefined ? '' : ` (from ${JSON.stringify(input.template)})`}; `;
  const made: ConfigIssue = {
    path: input.path,
    value,
    allowed: input.allowed,
    code: input.code ?? 'ERR_CONFIG',
    message: `${shown}${input.allowed}`,
  };
  if (input.line !== undefined) made.line = input.line;
  if (input.column !== undefined) made.column = input.column;
  if (input.cause !== undefined) made.cause = input.cause;
  return made;
}

/** What the issue of a ConfigError thrown by a check of the API is made of: its field is the path. */
export function inputOf(error: ConfigError<string>): IssueInput {
  return { path: error.field, value: error.value, allowed: error.allowed, code: error.code };
}
