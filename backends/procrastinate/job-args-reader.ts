/**
 * Reads the args of a claimed job from their jsonb text, as `pg` would, except for integers a
 * JavaScript number cannot hold. Python reads `{"id": 12345678901234567890}` exactly; JSON.parse
 * reads 12345678901234567000, a different id, and a handler acting on it would act on the wrong
 * record. Such args come back as {@link UnreadableArgs}, and the job fails saying why.
 */
import type pg from 'pg';
import { loadPeer } from '../../src/core/peers.js';

/** Args the handler cannot be given as they are; `reason` says why. */
export class UnreadableArgs {
  constructor(readonly reason: string) {}
}

const jsonbOid = 3802;

/** A string (skipped) or a number, in JSON text. */
const token = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/** The args of `text`, or UnreadableArgs when an integer in it reads as a JavaScript number of other digits. */
export function readArgs(text: string): unknown {
  const args: unknown = JSON.parse(text);
  // Sixteen digits in a row, anywhere, is the cheap sign that one might be.
  if (!/\d{16}/.test(text)) return args;
  for (const [found] of text.matchAll(token)) {
    // Strings are skipped; numbers with a fraction or exponent are doubles in Python too.
    if (found.startsWith('"') || /[.eE]/.test(found)) continue;
    // PostgreSQL writes 4.5e+116 out in full: only the significant digits tell what was meant.
    const read = Number(found);
    if (!Number.isFinite(read) || significant(found) !== significant(String(read))) {
      return new UnreadableArgs(
        `the integer ${found}, which JavaScript reads as ${read}, another number once written back; pass such integers as strings`,
      );
    }
  }
  return args;
}

/** The significant digits of a number as written (`-1.50e+3` → `15`): sign, point, exponent and outer zeros dropped. */
function significant(written: string): string {
  return written
    .replace(/[eE].*$/, '')
    .replace(/[-.]/g, '')
    .replace(/^0+|0+$/g, '');
}

/** Query `types` that read jsonb with {@link readArgs} and everything else as `pg` does. */
export function argsTypes(): pg.CustomTypesConfig {
  const { types } = loadPeer('pg', 'the Procrastinate backend');
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
      oid === jsonbOid && format !== 'binary' ? readArgs : types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
  };
}
