#!/usr/bin/env node
// The `task-semaphore` executable: only runs the CLI. Kept apart from cli.ts so that running it
// needs no "am I the main module?" test, which a `node_modules/.bin` symlink defeats.
import { main } from './cli.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A task that ignored its abort (`run`'s exit 6) may keep the event loop alive: exit anyway, once
// what was written had time to flush. The timer does not hold a process that ends by itself.
setTimeout(() => process.exit(code), 500).unref();
