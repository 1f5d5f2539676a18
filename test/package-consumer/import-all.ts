// Run inside a project that installed the packed package: imports every subpath of its exports
// map and prints how many names each gave (a JSON file: how many keys), as JSON.
import { readFileSync } from 'node:fs';

const manifest = JSON.parse(readFileSync('node_modules/task-semaphore/package.json', 'utf8')) as { exports: Record<string, unknown> };
const imported: Record<string, number> = {};
for (const subpath of Object.keys(manifest.exports)) {
  const specifier = `task-semaphore${subpath.slice(1)}`;
  const json = subpath.endsWith('.json');
  const module = (await (json ? import(specifier, { with: { type: 'json' } }) : import(specifier))) as { default?: object };
  imported[specifier] = Object.keys(json ? module.default! : module).length;
}
console.log(JSON.stringify(imported));
