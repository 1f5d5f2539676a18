/**
 * Every TypeScript snippet in the README is a file of the repository (or an excerpt of one) that
 * CI compiles and runs: the snippet's first line names it, and its text must appear there verbatim.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);

test('the README has TypeScript snippets', (t) => {
  t.true(snippets.length >= 5);
});

for (const [index, snippet] of snippets.entries()) {
  const [first, ...rest] = snippet.split('\n');
  const named = /^\/\/ ((?:examples|test)\/[\w/.-]+\.ts)(:| \(excerpt\))/.exec(first ?? '');
  test(`README snippet ${index + 1}: ${first}`, (t) => {
    if (!named) return t.fail(`a README snippet must start with "// examples/<file>.ts: …" or "(excerpt)": ${first}`);
    const source = readFileSync(`${root}${named[1]}`, 'utf8');
    const body = named[2] === ' (excerpt)' ? rest.join('\n') : snippet;
    t.true(source.includes(body), `the snippet is not in ${named[1]} verbatim`);
  });
}

// A shell script in the README is the example file itself, whole: its first comment names it.
for (const match of readme.matchAll(/```sh\n(#!\/bin\/sh\n# (examples\/[\w/.-]+\.sh)[\s\S]*?)```/g)) {
  test(`README shell script ${match[2]} is the example file`, (t) => {
    t.is(match[1], readFileSync(`${root}${match[2]}`, 'utf8'));
  });
}
