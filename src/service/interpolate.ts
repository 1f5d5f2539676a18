/**
 * `${NAME}` and `${NAME:-default}` in a config's strings, replaced from the environment, so that
 * one file serves every deployment and secrets (store URLs with passwords) stay out of it.
 */
import { fieldName } from '../core/option-schema.js';
import { issue, type ConfigIssue } from './errors.js';

/** What {@link interpolate} made: the config with every placeholder replaced, and what went wrong. */
export interface Interpolated {
  value: unknown;
  issues: ConfigIssue[];
  /** The text each replaced string was read from, by path (`scheduler.redis` → `${REDIS_URL}`). */
  templates: Map<string, string>;
}

// `$${` stays a literal `${`; otherwise `${`, a name, an optional `:-default`, and `}`.
const placeholder = /\$(\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;
const allowed = 'allowed: ${NAME} or ${NAME:-default} (NAME of letters, digits and _), or $${ for a literal ${';

/**
 * Replaces the placeholders of every string in plain objects and arrays (keys are left as they
 * are, and so is anything else: a class instance or function of a JS config). `${NAME:-default}`
 * takes the default when NAME is unset or empty, as the shell does; `${NAME}` with NAME unset is
 * an issue naming the path and the variable.
 */
export function interpolate(input: unknown, env: NodeJS.ProcessEnv): Interpolated {
  const issues: ConfigIssue[] = [];
  const templates = new Map<string, string>();

  const replace = (text: string, path: readonly PropertyKey[]): string => {
    if (!text.includes('$')) return text;
    const field = fieldName('', path);
    let missing: string | undefined;
    let malformed = false;
    const result = text.replace(
      placeholder,
      (whole, literal: string | undefined, name: string | undefined, fallback: string | undefined) => {
        if (literal !== undefined) return literal;
        if (name === undefined) {
          malformed = true;
          return whole;
        }
        const value = env[name];
        if (fallback !== undefined && (value === undefined || value === '')) return fallback;
        if (value === undefined) {
          missing ??= name;
          return whole;
        }
        return value;
      },
    );
    if (malformed) {
      issues.push(issue({ path: field, value: text, allowed }));
    } else if (missing !== undefined) {
      issues.push(
        issue({
          path: field,
          value: text,
          allowed: `the environment variable ${missing} is not set; set it, or give a default: \${${missing}:-value}`,
        }),
      );
    } else if (result !== text) {
      templates.set(field, text);
    }
    return result;
  };

  const walk = (value: unknown, path: readonly PropertyKey[]): unknown => {
    if (typeof value === 'string') return replace(value, path);
    if (Array.isArray(value)) return value.map((item, i) => walk(item, [...path, i]));
    if (isPlainObject(value)) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return value;
  };

  return { value: walk(input, []), issues, templates };
}

/** An object literal or JSON object: not a class instance, whose strings are its own business. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
