#!/usr/bin/env node
// The `task-semaphore` executable: only runs the CLI. Kept apart from cli.ts so that running it
// needs no "am I the main module?" test, which a `node_modules/.bin` symlink defeats.
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2));
