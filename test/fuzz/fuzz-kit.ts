/**
 * What the fuzz tests share: fast-check's run parameters (bounded, replayable) and the odd inputs
 * users and other programs send: unicode of every plane, lone surrogates, NUL, SQL and Lua
 * metacharacters, Redis hash-tag braces, and strings at and past the limits.
 *
 * A failure prints fast-check's `seed` and `path`; replay it with
 * `FUZZ_SEED=<seed> FUZZ_PATH=<path> npx ava test/fuzz/<file>.test.ts`. `FUZZ_RUNS` multiplies
 * every property's run count, for a longer hunt than CI's.
 */
import fc from 'fast-check';

/**
 * The parameters of one property: `runs` runs in CI (kept small: the stores are real servers),
 * times FUZZ_RUNS, after the given `examples`; a seed and path from the environment replay a failure.
 * `stateful` properties (runs share a scheduler) are not shrunk.
 */
export function fuzzParameters<T>(
  runs: number,
  { examples = [], stateful = false }: { examples?: T[]; stateful?: boolean } = {},
): fc.Parameters<T> {
  const factor = Number(process.env.FUZZ_RUNS ?? 1);
  const parameters: fc.Parameters<T> = {
    numRuns: Math.max(1, Math.round(runs * factor)),
    includeErrorInReport: true,
    // The examples (past findings) run first, every time.
    examples,
    // A failed run of a stateful property leaves tasks behind that would mislead the shrinker:
    // report the first failure as it came.
    endOnFailure: stateful,
  };
  if (process.env.FUZZ_SEED !== undefined) parameters.seed = Number(process.env.FUZZ_SEED);
  if (process.env.FUZZ_PATH !== undefined) parameters.path = process.env.FUZZ_PATH;
  return parameters;
}

/** Fragments that mean something to SQL, Lua (and its patterns), Redis key names, JSON or a shell. */
export const metacharacters = [
  "'",
  '"',
  '`',
  '\\',
  ';',
  '--',
  '/*',
  '*/',
  '$1',
  '$$',
  "'; DROP TABLE slots; --",
  "' OR '1'='1",
  '%',
  '%s',
  '%d',
  '_',
  '{',
  '}',
  '{}',
  '[',
  ']',
  ']]',
  '[[',
  '--[[',
  '(',
  ')',
  '.',
  '*',
  '+',
  '-',
  '?',
  '^',
  '$',
  '%a+',
  '#',
  ':',
  '::text',
  '\n',
  '\r\n',
  '\t',
  ' ',
  '\u00a0',
  '\u200b',
  '\ufeff',
  '\u202e',
  'é',
  'e\u0301',
  '€',
  '😀',
  '👩‍👩‍👧',
  '𝕏',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  '{"a":1}',
  '\\u0000',
] as const;

/** A short run of metacharacters and plain text, mixed. */
export const metaString = (maxParts = 6): fc.Arbitrary<string> =>
  fc
    .array(fc.oneof(fc.constantFrom(...metacharacters), fc.string({ maxLength: 4 })), { maxLength: maxParts })
    .map((parts) => parts.join(''));

/** Any UTF-16 code unit, lone surrogates included: strings JavaScript allows and UTF-8 cannot carry. */
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));

/**
 * An odd string: unicode from every plane, raw UTF-16 (lone surrogates, NUL), metacharacters,
 * or a long repeat (up to `maxRepeat` characters, for sizes past a limit).
 */
export const oddString = (maxRepeat = 5000): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: metaString(), weight: 4 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
    { arbitrary: fc.string({ unit: codeUnit, maxLength: 20 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom('a', 'é', '€', '😀', "'", '\u0000'), fc.integer({ min: 1, max: maxRepeat }))
        .map(([c, n]) => c.repeat(n)),
      weight: 1,
    },
  );

/** Any value at all, of the kinds a config file, a JSON payload or a careless caller give. */
export const anyValue = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    { arbitrary: oddString(300), weight: 3 },
    {
      arbitrary: fc.constantFrom(
        undefined,
        null,
        true,
        false,
        0,
        -0,
        -1,
        1.5,
        Number.NaN,
        Infinity,
        -Infinity,
        2 ** 31,
        2 ** 53,
        10n,
        Symbol('s'),
      ),
      weight: 3,
    },
    { arbitrary: fc.double(), weight: 1 },
    { arbitrary: fc.integer(), weight: 1 },
    { arbitrary: fc.constantFrom([], {}, [1], { a: 1 }, new Date(0), new Map(), () => 1, /x/), weight: 1 },
    { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 1 },
  );

/** A key of `known` with one typo: a letter changed, dropped, doubled, or the case of one flipped. */
export const typoOf = (known: readonly string[]): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...known), fc.nat(), fc.constantFrom('drop', 'double', 'case', 'swap', 'snake'))
    .map(([key, at, kind]) => {
      const i = at % key.length;
      switch (kind) {
        case 'drop':
          return key.slice(0, i) + key.slice(i + 1);
        case 'double':
          return key.slice(0, i) + key[i] + key.slice(i);
        case 'case': {
          const c = key[i]!;
          return key.slice(0, i) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + key.slice(i + 1);
        }
        case 'swap':
          return i + 1 < key.length ? key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2) : `${key}s`;
        default:
          return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) + (/[A-Z]/.test(key) ? '' : '_');
      }
    })
    .filter((key) => !known.includes(key));
