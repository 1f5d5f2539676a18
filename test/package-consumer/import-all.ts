// Run inside a project that installed the packed package: imports every subpath of its exports
// map and prints how many names each gave, as JSON.
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync('node_modules/task-semaphore/package.json', 'utf8')) as { exports: Record<string, unknown> };
const imported: Record<string, number> = {};
for (const subpath of Object.keys(manifest.exports)) {
  const specifier = `task-semaphore${subpath.slice(1)}`;
  imported[specifier] = Object.keys((await import(specifier)) as object).length;
}
console.log(JSON.stringify(imported));
