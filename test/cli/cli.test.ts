/** The `task-semaphore` command, run as a user runs it, against the real PostgreSQL. */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { connectPostgres, databaseUrl, uniqueName } from '../helpers/services.js';

const cli = fileURLToPath(new URL('../../src/cli/bin.js', import.meta.url));
const exec = promisify(execFile);

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cli, ...args], { env: { ...process.env, DATABASE_URL: databaseUrl } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('--help lists the commands and the exit codes; each command has its own help', async (t) => {
  const { code, stdout } = await run('--help');
  t.is(code, 0);
  for (const command of ['status', 'keepalive', 'stop', 'cancel', 'procrastinate']) t.regex(stdout, new RegExp(`\\n  ${command} `));
  t.regex(stdout, /Exit codes:\n {2}0 /);
  const group = await run('procrastinate', '--help');
  t.is(group.code, 0);
  t.regex(group.stdout, /check-schema/);
  t.regex(group.stdout, /apply-schema/);
  const stop = await run('stop', '--help');
  t.is(stop.code, 0);
  t.regex(stop.stdout, /--status <status>/);
});

test('the help of keepalive, stop and cancel lists the exit codes a shell script branches on', async (t) => {
  const codesOf = async (command: string) => {
    const { code, stdout } = await run(command, '--help');
    t.is(code, 0);
    return [...(stdout.split('\nExit codes:\n')[1] ?? '').matchAll(/^ {2}(\d) {2}\S/gm)].map((m) => Number(m[1])).sort();
  };
  t.deepEqual(await codesOf('keepalive'), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(await codesOf('stop'), [0, 1, 2, 3, 4]);
  t.deepEqual(await codesOf('cancel'), [0, 1, 2, 3, 4]);
});

test('an unknown command exits 2 and points to the help', async (t) => {
  const { code, stderr } = await run('procrastinate', 'migrate');
  t.is(code, 2);
  t.regex(stderr, /unknown command 'migrate'[\s\S]*--help/);
});

test('apply-schema creates the schema once; check-schema then passes, and fails on an empty schema naming what is missing', async (t) => {
  const schema = uniqueName('cli');
  const pool = await connectPostgres({ max: 1 });
  t.teardown(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema}_empty CASCADE`);
    await pool.end();
  });
  t.like(await run('procrastinate', 'apply-schema', '--schema', schema), {
    code: 0,
    stdout: `created the Procrastinate schema in "${schema}"\n`,
  });
  t.like(await run('procrastinate', 'apply-schema', '--schema', schema), { code: 0 });
  t.regex((await run('procrastinate', 'apply-schema', '--schema', schema)).stdout, /complete: nothing to do/);
  t.like(await run('procrastinate', 'check-schema', '--schema', schema), { code: 0, stdout: 'Procrastinate schema level 3.4: ok\n' });

  await pool.query(`CREATE SCHEMA ${schema}_empty`);
  const failed = await run('procrastinate', 'check-schema', '--schema', `${schema}_empty`);
  t.is(failed.code, 1);
  t.regex(failed.stderr, /procrastinate_jobs/);
});
