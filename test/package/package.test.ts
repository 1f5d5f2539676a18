/**
 * The package as a user gets it: `npm pack`, installed into a fresh project with ioredis and
 * without pg. Every export imports, a Redis-only TypeScript consumer type-checks (no @types/pg,
 * skipLibCheck off) and runs, PostgreSQL fails with a MissingPeerError, and the bin answers
 * `--help` through node_modules/.bin.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { databaseUrl, redisUrl, uniqueName } from '../helpers/services.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const consumerSources = join(root, 'test/package-consumer');
const consumerBuilt = join(root, 'dist/test/package-consumer');

/** The version this repository tests with, so npm finds it in its cache. */
function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Runs a command; resolves with its exit code and output, whatever the code. */
async function run(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('the packed package installs, imports, type-checks for Redis alone, and runs its bin', async (t) => {
  t.timeout(240_000);
  const dir = mkdtempSync(join(tmpdir(), 'task-semaphore-pack-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], root);
  t.is(packed.code, 0, packed.stderr);
  const [{ filename, files }] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  t.true(
    files.some((f) => f.path === 'LICENSE'),
    'the tarball carries the LICENSE',
  );
  t.false(
    files.some((f) => f.path.startsWith('dist/test/')),
    'the tarball carries no tests: the suites are in dist/src/testing',
  );

  const project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const install = await run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      join(dir, filename),
      `ioredis@${installedVersion('ioredis')}`,
      `@types/node@${installedVersion('@types/node')}`,
    ],
    project,
  );
  t.is(install.code, 0, install.stderr);
  for (const file of ['import-all.js', 'missing-pg.js', 'redis-only.js']) copyFileSync(join(consumerBuilt, file), join(project, file));

  const imported = await run(process.execPath, ['import-all.js'], project);
  t.is(imported.code, 0, imported.stderr);
  const counts = JSON.parse(imported.stdout) as Record<string, number>;
  t.deepEqual(Object.keys(counts), [
    'task-semaphore',
    'task-semaphore/slots/memory',
    'task-semaphore/slots/redis',
    'task-semaphore/slots/postgres',
    'task-semaphore/backends/procrastinate',
    'task-semaphore/testing',
    'task-semaphore/service',
    'task-semaphore/http',
    'task-semaphore/config.schema.json',
  ]);
  t.true(
    Object.values(counts).every((n) => n > 0),
    imported.stdout,
  );

  // Type-check the Redis-only consumer with this repository's tsc, libraries included.
  copyFileSync(join(consumerSources, 'redis-only.ts'), join(project, 'redis-only.ts'));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['redis-only.ts'],
    }),
  );
  const checked = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], project);
  t.is(checked.code, 0, checked.stdout + checked.stderr);

  const redisRun = await run(process.execPath, ['redis-only.js', redisUrl, uniqueName('pack')], project);
  t.is(redisRun.code, 0, redisRun.stderr);
  t.deepEqual(JSON.parse(redisRun.stdout), { polls: 1, released: 1 });

  const missing = await run(process.execPath, ['missing-pg.js', databaseUrl], project);
  t.is(missing.code, 0, missing.stderr);
  const errors = JSON.parse(missing.stdout) as Record<
    string,
    { name: string; code: string; peer: string; message: string; typed: boolean }
  >;
  for (const use of ['load', 'client'] as const) {
    t.like(errors[use], { name: 'MissingPeerError', code: 'ERR_MISSING_PEER', peer: 'pg', typed: true }, use);
    t.regex(errors[use]?.message ?? '', /npm install pg/);
  }

  const bin = join(project, 'node_modules/.bin/task-semaphore');
  const help = await run(bin, ['--help'], project);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: task-semaphore \[options\] \[command\]/);
  const withoutPg = await run(bin, ['procrastinate', 'check-schema', '--database-url', databaseUrl], project);
  t.is(withoutPg.code, 1);
  t.regex(withoutPg.stderr, /needs the package "pg", which is not installed: npm install pg/);
});
