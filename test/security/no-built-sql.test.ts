/**
 * Nothing reaches SQL or Lua unescaped, checked in the source: values travel as bind parameters
 * ($1) and script arguments (ARGV), never inside the statement or script text. The only text
 * built at run time is an identifier quoted by `escapeIdentifier` (a schema, a LISTEN channel).
 * The fuzz tests (test/fuzz/) check the same by behaviour: metacharacters round-trip intact.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';

const root = new URL('../../..', import.meta.url).pathname;
const libraryDirs = ['src', 'slots', 'backends'];

/** Every file under `dir` ending in `ext`, relative to the repository. */
function filesOf(dir: string, ext: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith(ext) && !file.endsWith('.generated.ts'))
    .map((file) => join(dir, file));
}

/** The template literals of TypeScript source, outermost first, each with its `${…}` expressions. */
export function templatesOf(source: string): Array<{ text: string; expressions: string[] }> {
  const found: Array<{ text: string; expressions: string[] }> = [];
  let i = 0;
  const readTemplate = (): void => {
    // At the opening backtick.
    const start = i++;
    const expressions: string[] = [];
    while (i < source.length && source[i] !== '`') {
      if (source[i] === '\\') i += 2;
      else if (source.startsWith('${', i)) {
        const from = (i += 2);
        let depth = 1;
        while (i < source.length && depth > 0) {
          if (source[i] === '`') readTemplate();
          else if (source[i] === '{') depth++;
          else if (source[i] === '}') depth--;
          if (depth > 0) i++;
        }
        expressions.push(source.slice(from, i++));
      } else i++;
    }
    found.push({ text: source.slice(start, ++i), expressions });
  };
  while (i < source.length) {
    const c = source[i]!;
    if (source.startsWith('//', i)) i = source.indexOf('\n', i) + 1 || source.length;
    else if (source.startsWith('/*', i)) i = source.indexOf('*/', i) + 2;
    else if (c === "'" || c === '"') {
      for (i++; i < source.length && source[i] !== c; i++) if (source[i] === '\\') i++;
      i++;
    } else if (c === '`') readTemplate();
    else i++;
  }
  return found;
}

/** A statement keyword at the start of a template: a template that is SQL. */
const sqlStart = /^`\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|LISTEN|UNLISTEN|NOTIFY|SET|WITH|TRUNCATE|GRANT|COPY|DO)\b/i;
/** The only expression allowed inside SQL text: an identifier quoted by escapeIdentifier. */
const quotedIdentifier = /^\s*([\w.]+\.)?escapeIdentifier\([^()]*\)\s*$|^\s*(this\.)?\w*[iI]dentifier\s*$/;

/** Why `source` builds SQL or Lua from values, one line per place; empty when it does not. */
export function builtStatements(source: string): string[] {
  const problems: string[] = [];
  for (const { text, expressions } of templatesOf(source)) {
    if (sqlStart.test(text)) {
      for (const expression of expressions)
        if (!quotedIdentifier.test(expression)) problems.push(`SQL with \${${expression}}: ${text.slice(0, 80)}`);
    }
    if (/redis\.call|KEYS\[|ARGV\[/.test(text) && expressions.length > 0) problems.push(`Lua built in a template: ${text.slice(0, 80)}`);
  }
  // A statement glued together with +: '…WHERE id = ' + id.
  for (const match of source.matchAll(/['"`]\s*(SELECT|INSERT|UPDATE|DELETE|LISTEN|NOTIFY)\b[^'"`\n]*['"`]\s*\+\s*[A-Za-z_$]/gi)) {
    problems.push(`SQL joined with +: ${match[0].slice(0, 80)}`);
  }
  // The schema goes into a statement only through bindSchema, with a quoted identifier.
  for (const match of source.matchAll(/(?<!function )bindSchema\([^,]+,\s*([^)]+)\)/g)) {
    if (!quotedIdentifier.test(match[1]!)) problems.push(`bindSchema with ${match[1]}`);
  }
  return problems;
}

test('the checker finds values built into SQL or Lua, and passes quoted identifiers', (t) => {
  t.deepEqual(builtStatements('pool.query(`LISTEN ${client.escapeIdentifier(channel)}`);'), []);
  t.deepEqual(builtStatements('pool.query(`DROP SCHEMA ${this.schemaIdentifier} CASCADE`, [a]);'), []);
  t.deepEqual(builtStatements('const s = bindSchema(text, this.schemaIdentifier);'), []);
  t.deepEqual(builtStatements('const m = `task ${taskId} failed`; // SELECT ${x}'), []);
  t.is(builtStatements('pool.query(`SELECT * FROM slots WHERE id = ${id}`);').length, 1);
  t.is(builtStatements("pool.query(`\n  UPDATE slots SET owner = '${owner}'`);").length, 1);
  t.is(builtStatements("pool.query('SELECT * FROM t WHERE name = ' + name);").length, 1);
  t.is(builtStatements('const lua = `return redis.call("GET", "${key}")`;').length, 1);
  t.is(builtStatements('bindSchema(text, schema)').length, 1);
  t.is(builtStatements('x(`SELECT ${a ? `${b}` : c}`)').length, 1, 'a nested template is one expression of the outer');
});

test('the library builds no SQL or Lua from values: bind parameters, ARGV and quoted identifiers only', (t) => {
  const files = libraryDirs.flatMap((dir) => filesOf(dir, '.ts'));
  t.true(files.length > 50, `${files.length} files read`);
  const problems = files.flatMap((file) => builtStatements(readFileSync(join(root, file), 'utf8')).map((p) => `${file}: ${p}`));
  t.deepEqual(problems, []);
});

test('the Lua scripts evaluate no code they are given, and the SQL files build no statements', (t) => {
  for (const file of filesOf('slots', '.lua')) {
    t.notRegex(readFileSync(join(root, file), 'utf8'), /\bload(string)?\s*\(/, `${file} evaluates code`);
  }
  const sqlFiles = libraryDirs.flatMap((dir) => filesOf(dir, '.sql'));
  t.true(sqlFiles.length > 20, `${sqlFiles.length} SQL files read`);
  for (const file of sqlFiles) {
    // Dynamic SQL inside PL/pgSQL: EXECUTE of a string (EXECUTE FUNCTION in a trigger is not).
    t.notRegex(readFileSync(join(root, file), 'utf8'), /\bEXECUTE\s+(?!FUNCTION\b|PROCEDURE\b)/i, `${file} runs dynamic SQL`);
  }
});
