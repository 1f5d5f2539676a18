/**
 * The options of the HTTP endpoint: where it listens, and the bearer token that guards the
 * control routes. Checked by the one option mechanism (src/core/option-schema.ts), so a typo is
 * an error naming the field, and a config file's `http` section says the same.
 */
import * as z from 'zod/mini';
import { checked, duration, flag, integer, parseOptions, strictObject, text } from '../core/option-schema.js';

/** Where the endpoint listens unless told otherwise: this host only. */
export const defaultHost = '127.0.0.1';
/** The port unless told otherwise. */
export const defaultPort = 9478;
/** A bearer token shorter than this is too easy to guess. */
export const minTokenLength = 16;

export interface HttpOptions {
  /** The interface to bind. Anything but loopback exposes the routes to the network. @defaultValue `'127.0.0.1'` */
  host?: string;
  /** The TCP port; 0 picks a free one (see `HttpServer.url`). @defaultValue 9478 */
  port?: number | string;
  /**
   * The bearer token of the control routes (`POST /tasks/:id/…`), at least 16 characters. Without
   * one, those routes answer 401 to every call: nothing can stop a task over HTTP by default.
   */
  token?: string;
  /** Guard the read-only routes (`/slots`, `/history`, `/metrics`, the board) with the token too; health stays open. @defaultValue false */
  guardReads?: boolean;
  /** How long after the last successful pass the scheduler counts as wedged (`/healthz` 503). @defaultValue 3 × the cron's period, at least 30 s */
  staleAfter?: number | string;
  /** The largest request body taken, in bytes. @defaultValue 65536 */
  bodyLimit?: number;
}

export interface ResolvedHttpOptions {
  host: string;
  port: number;
  token: string | undefined;
  guardReads: boolean;
  /** Undefined: derived from the cron. */
  staleAfterMs: number | undefined;
  bodyLimit: number;
}

const portAllowed = 'allowed: a TCP port, 0 to 65535 (0: any free port)';

/** A port from a number or a string of digits, or undefined. */
function readPort(value: unknown): number | undefined {
  const port = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : value;
  return Number.isInteger(port) && (port as number) >= 0 && (port as number) <= 65535 ? (port as number) : undefined;
}

const tokenAllowed = `allowed: a string of at least ${minTokenLength} characters (e.g. from \`openssl rand -hex 32\`)`;

export const httpOptionsShape = {
  host: z.optional(text(/^\S+$/, 'allowed: a host name or address to bind, such as "127.0.0.1", "::1" or "0.0.0.0"')),
  // A string of digits too: a config file's `"${HTTP_PORT}"` is text.
  port: z.optional(
    checked<number | string>((value) => (readPort(value) === undefined ? portAllowed : undefined), {
      anyOf: [
        { type: 'integer', minimum: 0, maximum: 65535 },
        { type: 'string', pattern: '^\\d+$' },
      ],
      description: portAllowed,
    }),
  ),
  token: z.optional(
    checked<string>((value) => (typeof value === 'string' && value.trim().length >= minTokenLength ? undefined : tokenAllowed), {
      type: 'string',
      minLength: minTokenLength,
      description: tokenAllowed,
    }),
  ),
  guardReads: z.optional(flag()),
  staleAfter: z.optional(duration('30s', { min: 1000 })),
  bodyLimit: z.optional(integer(1024, { allowed: 'allowed: an integer number of bytes, at least 1024' })),
};

const httpOptionsSchema = strictObject(
  httpOptionsShape,
  'allowed: an object of HTTP options (host, port, token, guardReads, staleAfter, bodyLimit)',
);

/** The `http` section of a config file: the same options, checked the same way. */
export const httpSection = z.optional(
  strictObject(httpOptionsShape, 'allowed: an object of HTTP options (host, port, token, guardReads, staleAfter, bodyLimit)', 'field'),
);

/** @throws ConfigError naming the field, the bad value and what is allowed */
export function resolveHttpOptions(options: HttpOptions = {}, prefix?: string): ResolvedHttpOptions {
  const parsed = parseOptions(httpOptionsSchema, options, prefix);
  return {
    host: parsed.host ?? defaultHost,
    port: parsed.port === undefined ? defaultPort : readPort(parsed.port)!,
    token: parsed.token,
    guardReads: parsed.guardReads ?? false,
    staleAfterMs: options.staleAfter === undefined ? undefined : parsed.staleAfter,
    bodyLimit: parsed.bodyLimit ?? 65_536,
  };
}
