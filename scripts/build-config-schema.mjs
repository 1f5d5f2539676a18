#!/usr/bin/env node
// Writes config.schema.json, the JSON Schema of a config file, from the schemas the loader checks
// files with (dist/src/service/config-schema.js, so it runs after tsc). Shipped in the package
// as task-semaphore/config.schema.json, for editors to complete and check config files.
import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { configJsonSchema } = await import(join(root, 'dist/src/service/config-schema.js'));
writeFileSync(join(root, 'config.schema.json'), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
