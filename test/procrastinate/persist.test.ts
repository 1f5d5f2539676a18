/**
 * Job writes of the Procrastinate backend tried again after a connection failure (persist.ts):
 * which errors count as one, and that a write keeps being tried while the backend is open.
 */
import test from 'ava';
import { isConnectionFailure, persist } from '../../backends/procrastinate/persist.js';

/** persist's timers are unref'd, as a library's should be: the test holds the process open meanwhile. */
const holdOpen = (t: { teardown(fn: () => void): void }) => {
  const timer = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(timer));
};

/** An error as pg or Node's net module reports it. */
const failure = (code?: string) =>
  Object.assign(new Error(code ?? 'Connection terminated unexpectedly'), code === undefined ? {} : { code });

test('connection failures: no code, Node socket errors, SQLSTATE classes 08, 57P and 40; not constraint or data errors', (t) => {
  for (const code of [undefined, 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '08006', '57P01', '40001'])
    t.true(isConnectionFailure(failure(code)), String(code));
  for (const code of ['23505', '23514', 'P0001', '22023', '42P01']) t.false(isConnectionFailure(failure(code)), code);
});

test('a write refused with ECONNREFUSED is sent again until it lands', async (t) => {
  holdOpen(t);
  let calls = 0;
  const result = await persist(
    async () => {
      calls++;
      if (calls <= 2) throw failure('ECONNREFUSED');
      return 'written';
    },
    () => true,
  );
  t.is(result, 'written');
  t.is(calls, 3);
});

test('past its first tries, a write is tried again only while keepTrying says so', async (t) => {
  holdOpen(t);
  let calls = 0;
  let open = true;
  const error = await t.throwsAsync(
    persist(
      async () => {
        calls++;
        // Closing after the fifth try: the next failure is final.
        if (calls === 5) open = false;
        throw failure('ECONNREFUSED');
      },
      () => open,
    ),
  );
  t.is(error?.message, 'ECONNREFUSED');
  t.is(calls, 5);
});

test('any other error is thrown at once', async (t) => {
  let calls = 0;
  await t.throwsAsync(
    persist(
      async () => {
        calls++;
        throw failure('23505');
      },
      () => true,
    ),
  );
  t.is(calls, 1);
});
