/**
 * `collectMetrics()` on real Redis and PostgreSQL (and memory): a known sequence of tasks (two
 * stopped, one failing to start, one timing out, one cancelled, one still running, one invalid id
 * and one failed poll), then the exact metrics read back from `registry.metrics()`, as Prometheus
 * would scrape them. A store cut off behind a TCP proxy still gets a scrape that answers, with its
 * errors counted; the options are checked; registries are shared and released.
 */
import test, { type ExecutionContext } from 'ava';
import { Gauge, Registry } from 'prom-client';
import { collectMetrics, type MetricsOptions } from '../../src/http/index.js';
import { ConfigError } from '../../src/core/errors.js';
import type { Scheduler } from '../../src/scheduler/scheduler.js';
import {
  harness,
  makeScheduler,
  ScriptedBackend,
  sleep,
  uniqueSchedulerName,
  waitFor,
  type SlotKind,
  type SlotKindSetup,
} from '../../src/testing/scheduler-kit.js';
import { closeSlotKinds, memoryKind, postgresKind, redisKind } from '../helpers/slot-kinds.js';
import { postgresBehindProxy, redisBehindProxy } from '../helpers/stores-behind-proxy.js';

test.after.always(closeSlotKinds);

/** One sample of the text exposition format: `name{a="x",b="y"} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples and the `# TYPE` of each family in Prometheus's text format. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

/** A scrape, read as a Prometheus server would. */
class Scrape {
  constructor(readonly samples: Sample[]) {}

  static async of(registry: Registry): Promise<Scrape> {
    return new Scrape(parse(await registry.metrics()).samples);
  }

  /** The value of the sample whose labels are exactly these, or undefined. */
  value(name: string, labels: Record<string, string>): number | undefined {
    const keys = Object.keys(labels).sort();
    return this.samples.find(
      (s) => s.name === name && Object.keys(s.labels).sort().join() === keys.join() && keys.every((key) => s.labels[key] === labels[key]),
    )?.value;
  }

  /** The samples of `name`, each as its labels (but `scheduler`) and value, sorted. */
  series(name: string): Array<[string, number]> {
    return this.samples
      .filter((s) => s.name === name)
      .map((s): [string, number] => {
        const { scheduler: _, ...rest } = s.labels;
        return [JSON.stringify(rest), s.value];
      })
      .sort(([a], [b]) => a.localeCompare(b));
  }
}

/** Every family of the metrics, with its type: README's "Metrics" table lists the same. */
const families = {
  task_semaphore_slots: 'gauge',
  task_semaphore_slots_overdue: 'gauge',
  task_semaphore_keepalive_age_max_seconds: 'gauge',
  task_semaphore_history_records: 'gauge',
  task_semaphore_scrape_errors_total: 'counter',
  task_semaphore_tasks_started_total: 'counter',
  task_semaphore_tasks_ended_total: 'counter',
  task_semaphore_task_timeouts_total: 'counter',
  task_semaphore_tasks_rejected_total: 'counter',
  task_semaphore_poll_duration_seconds: 'histogram',
  task_semaphore_polls_empty_total: 'counter',
  task_semaphore_poll_errors_total: 'counter',
  task_semaphore_callback_errors_total: 'counter',
  task_semaphore_round_duration_seconds: 'histogram',
  task_semaphore_round_polls: 'histogram',
  task_semaphore_pass_errors_total: 'counter',
  task_semaphore_store_call_duration_seconds: 'histogram',
  task_semaphore_store_errors_total: 'counter',
};

const row = (labels: Record<string, string>, value: number): [string, number] => [JSON.stringify(labels), value];

for (const kind of [memoryKind, redisKind, postgresKind] as SlotKind[]) {
  test(`${kind.label}: a known sequence of tasks reads back as exact metrics`, async (t) => {
    const h = await harness(t, kind);
    const work = new ScriptedBackend(['ok-1', 'ok-2', 'boom', 'cancel-me', 'stay']);
    work.onStart = async (taskId, context) => {
      if (taskId.startsWith('ok-')) await context.stop({ status: 'succeeded' });
      if (taskId === 'boom') throw new Error('cannot start');
    };
    const slow = new ScriptedBackend(['slow']); // never keeps alive: times out
    const other = new ScriptedBackend();
    let otherPolls = 0;
    other.onPoll = () => {
      otherPolls++;
      if (otherPolls === 1) return 'has\u0000nul'; // breaks the task-id grammar: handed back
      if (otherPolls === 2) throw new Error('queue down');
      return null;
    };
    const scheduler = h.scheduler({ work, slow, other });
    const { registry, close } = collectMetrics(scheduler);
    t.teardown(close);
    await scheduler.load([
      ...[1, 2, 3, 4].map((slotId) => ({ slotId, backends: ['work'] })),
      { slotId: 5, backends: ['slow'], timeout: '300ms' },
      { slotId: 6, backends: ['other'] },
    ]);
    await scheduler.schedule();
    await waitFor(() => work.started.length === 5, 'the five work tasks to start');
    await sleep(450);
    await scheduler.schedule(); // reaps `slow`, polls `other` a second time
    await waitFor(() => slow.timedOut.length === 1, 'the timeout to be delivered');
    t.like(await scheduler.cancel('cancel-me'), { ok: true });
    t.like(await scheduler.stop('cancel-me'), { ok: true, reason: 'cancelled' });
    await waitFor(async () => (await scheduler.inspect()).every((slot) => slot.status !== 'reserved'), 'no slot reserved');

    const text = await registry.metrics();
    const { types } = parse(text);
    t.deepEqual(Object.fromEntries(types), families, 'every family, with its type, and no other');
    const scrape = new Scrape(parse(text).samples);
    t.true(
      scrape.samples.every((s) => s.labels.scheduler === h.name),
      'every sample is labelled with the scheduler name',
    );
    const slotClass = h.setup.slotCls;
    const at = (labels: Record<string, string>) => ({ slot_class: slotClass, ...labels });

    t.deepEqual(
      scrape.series('task_semaphore_slots'),
      [
        row(at({ backend: 'other', status: 'idle' }), 1),
        row(at({ backend: 'other', status: 'reserved' }), 0),
        row(at({ backend: 'other', status: 'running' }), 0),
        row(at({ backend: 'slow', status: 'idle' }), 1),
        row(at({ backend: 'slow', status: 'reserved' }), 0),
        row(at({ backend: 'slow', status: 'running' }), 0),
        row(at({ backend: 'work', status: 'idle' }), 3),
        row(at({ backend: 'work', status: 'reserved' }), 0),
        row(at({ backend: 'work', status: 'running' }), 1),
      ].sort(([a], [b]) => a.localeCompare(b)),
      'slots by backend and status: the running one under its task, idle ones under their first backend',
    );
    t.deepEqual(scrape.series('task_semaphore_slots_overdue'), [
      row(at({ backend: 'other' }), 0),
      row(at({ backend: 'slow' }), 0),
      row(at({ backend: 'work' }), 0),
    ]);
    const age = scrape.value('task_semaphore_keepalive_age_max_seconds', { scheduler: h.name, ...at({ backend: 'work' }) });
    t.true(age !== undefined && age >= 0.4 && age < 30, `the running task's keepalive age: ${age} s`);
    t.is(scrape.series('task_semaphore_keepalive_age_max_seconds').length, 1, 'only where a task runs');
    t.deepEqual(scrape.series('task_semaphore_history_records'), [row({ slot_class: slotClass }, 5)], 'five ended occupancies');
    t.deepEqual(scrape.series('task_semaphore_scrape_errors_total'), [row({ read: 'history' }, 0), row({ read: 'slots' }, 0)]);

    t.deepEqual(scrape.series('task_semaphore_tasks_started_total'), [row({ backend: 'slow' }, 1), row({ backend: 'work' }, 5)]);
    t.deepEqual(scrape.series('task_semaphore_tasks_ended_total'), [
      row({ backend: 'slow', reason: 'timeout' }, 1),
      row({ backend: 'work', reason: 'cancelled' }, 1),
      row({ backend: 'work', reason: 'start_failed' }, 1),
      row({ backend: 'work', reason: 'stopped' }, 2),
    ]);
    t.deepEqual(scrape.series('task_semaphore_task_timeouts_total'), [row({ backend: 'slow', reason: 'timeout' }, 1)]);
    t.deepEqual(scrape.series('task_semaphore_tasks_rejected_total'), [row({ backend: 'other', reason: 'invalid_id' }, 1)]);
    t.deepEqual(scrape.series('task_semaphore_callback_errors_total'), [row({ backend: 'work', callback: 'startCallback' }, 1)]);
    t.deepEqual(scrape.series('task_semaphore_poll_errors_total'), [row({ backend: 'other' }, 1)]);
    t.deepEqual(scrape.series('task_semaphore_pass_errors_total'), [row({}, 0)]);

    // Polls: each answered one is timed; those of an empty queue count as empty.
    const polls = (backend: string) => scrape.value('task_semaphore_poll_duration_seconds_count', { scheduler: h.name, backend }) ?? 0;
    t.is(polls('work'), work.polls, 'every poll of work answered');
    t.is(polls('other'), otherPolls - 1, 'the failed poll is not timed');
    const empty = (backend: string) => scrape.value('task_semaphore_polls_empty_total', { scheduler: h.name, backend }) ?? 0;
    t.true(empty('work') >= 1 && empty('work') === work.polls - 5, `work: ${empty('work')} empty of ${work.polls}`);
    t.is(empty('other'), otherPolls - 2, 'other: all but the invalid id and the failure');

    // Rounds: the two passes asked for, and the refill rounds of the slots freed here.
    const rounds = (round: string) => scrape.value('task_semaphore_round_duration_seconds_count', { scheduler: h.name, round }) ?? 0;
    t.true(rounds('pass') >= 2, `${rounds('pass')} passes`);
    t.true(rounds('refill') >= 1, `${rounds('refill')} refill rounds`);
    t.is(scrape.value('task_semaphore_round_polls_count', { scheduler: h.name, round: 'pass' }), rounds('pass'));
    t.true((scrape.value('task_semaphore_round_duration_seconds_sum', { scheduler: h.name, round: 'pass' }) ?? 0) > 0);

    // Store calls: counted by method, none failed.
    const calls = (method: string) =>
      scrape.value('task_semaphore_store_call_duration_seconds_count', { scheduler: h.name, slot_class: slotClass, method }) ?? 0;
    t.true(calls('beginPass') >= rounds('pass'), `${calls('beginPass')} beginPass`);
    t.true(calls('inspect') >= 2, 'the waits and the scrape inspected');
    t.is(calls('historySize'), 1, 'the scrape counted the history');
    t.true(calls('init') >= 1 && calls('requestCancel') === 1);
    const ends = calls('end') + calls('endMany');
    t.true(ends >= 3, `${ends} end calls for 4 ends (the two stops may share a batch)`);
    const errors = scrape.samples.filter((s) => s.name === 'task_semaphore_store_errors_total');
    t.true(errors.length >= 6, 'an error count for each method called');
    t.true(
      errors.every((s) => s.value === 0),
      'no store call failed',
    );
  });
}

for (const [label, behind, slotCls] of [
  ['Redis', redisBehindProxy, 'RedisSlot'],
  ['PostgreSQL', postgresBehindProxy, 'PostgresSlot'],
] as const) {
  test(`${label}: a scrape with the store cut off still answers, without the store's gauges, and counts the errors`, async (t) => {
    const { proxy, options } = await behind(t);
    const scheduler = makeScheduler({ options, slotCls } as SlotKindSetup, uniqueSchedulerName(), {
      work: new ScriptedBackend(['task-1']),
    });
    t.teardown(() => scheduler.close().catch(() => {}));
    const { registry } = collectMetrics(scheduler, { scrapeTimeout: '2s' });
    await scheduler.load([{ slotId: 1, backends: ['work'] }]);
    await scheduler.schedule();
    const name = scheduler.name;
    const up = await Scrape.of(registry);
    t.is(up.value('task_semaphore_slots', { scheduler: name, slot_class: slotCls, backend: 'work', status: 'running' }), 1);

    proxy.refuse(true);
    proxy.cut();
    const began = Date.now();
    const down = await Scrape.of(registry);
    t.true(Date.now() - began < 3000, 'the scrape answered within its timeout');
    t.deepEqual(down.series('task_semaphore_slots'), [], 'no slot gauge: the store could not be read');
    t.deepEqual(down.series('task_semaphore_history_records'), []);
    t.deepEqual(down.series('task_semaphore_scrape_errors_total'), [row({ read: 'history' }, 1), row({ read: 'slots' }, 1)]);
    for (const method of ['inspect', 'historySize']) {
      t.is(down.value('task_semaphore_store_errors_total', { scheduler: name, slot_class: slotCls, method }), 1, `${method} failed`);
    }
    t.is(down.value('task_semaphore_tasks_started_total', { scheduler: name, backend: 'work' }), 1, 'the counters are still there');

    proxy.refuse(false);
    await waitFor(
      async () => (await Scrape.of(registry)).series('task_semaphore_slots').length > 0,
      'a scrape that reads the store again',
      10_000,
    );
    const back = await Scrape.of(registry);
    t.is(back.value('task_semaphore_slots', { scheduler: name, slot_class: slotCls, backend: 'work', status: 'running' }), 1);
  });
}

test('Redis: a scrape with the store hanging answers once its scrapeTimeout passes, and the next one too', async (t) => {
  const { proxy, options } = await redisBehindProxy(t);
  const scheduler = makeScheduler({ options, slotCls: 'RedisSlot' } as SlotKindSetup, uniqueSchedulerName(), {
    work: new ScriptedBackend(),
  });
  t.teardown(() => scheduler.close().catch(() => {}));
  const { registry } = collectMetrics(scheduler, { scrapeTimeout: '300ms' });
  await scheduler.load([{ slotId: 1, backends: ['work'] }]);
  t.is((await Scrape.of(registry)).series('task_semaphore_slots').length, 3);

  proxy.freeze(); // what is sent is never answered, and nothing says so
  for (const scrapes of [1, 2]) {
    const began = Date.now();
    const hung = await Scrape.of(registry);
    const took = Date.now() - began;
    t.true(took >= 250 && took < 2000, `scrape ${scrapes} answered in ${took} ms`);
    t.deepEqual(hung.series('task_semaphore_slots'), []);
    t.deepEqual(hung.series('task_semaphore_scrape_errors_total'), [row({ read: 'history' }, scrapes), row({ read: 'slots' }, scrapes)]);
  }
});

/** A scheduler on a memory store of its own, loaded with one slot, closed at teardown. */
async function memoryScheduler(t: ExecutionContext, name = uniqueSchedulerName()): Promise<Scheduler> {
  const setup = await memoryKind.setup();
  const scheduler = makeScheduler(setup, name, { work: new ScriptedBackend() });
  t.teardown(() => scheduler.close());
  await scheduler.load([{ slotId: 1, backends: ['work'] }]);
  return scheduler;
}

test('bad options are ConfigErrors naming the field, the value and what is allowed', async (t) => {
  const scheduler = await memoryScheduler(t);
  const cases: Array<[unknown, RegExp]> = [
    [
      { prefx: 'x_' },
      /^collectMetrics\(options\.prefx\): got "x_"; unknown option `prefx`; allowed: registry, prefix, defaultMetrics, scrapeTimeout$/,
    ],
    [{ prefix: '1st_' }, /^collectMetrics\(options\.prefix\): got "1st_"; allowed: a Prometheus metric name prefix/],
    [{ prefix: 'with space' }, /^collectMetrics\(options\.prefix\): got "with space"/],
    [{ registry: {} }, /^collectMetrics\(options\.registry\): got \{\}; allowed: a prom-client Registry$/],
    [{ defaultMetrics: 'yes' }, /^collectMetrics\(options\.defaultMetrics\): got "yes"; allowed: true or false$/],
    [{ scrapeTimeout: 'soon' }, /^collectMetrics\(options\.scrapeTimeout\): got "soon"/],
    ['fast', /^collectMetrics\(options\): got "fast"; allowed: an object with registry, prefix, defaultMetrics and scrapeTimeout/],
  ];
  for (const [options, message] of cases) {
    t.throws(() => collectMetrics(scheduler, options as MetricsOptions), { instanceOf: ConfigError, message }, JSON.stringify(options));
  }
  t.throws(() => collectMetrics({ name: 'x' } as unknown as Scheduler), {
    instanceOf: ConfigError,
    message: /^collectMetrics\(scheduler\): got \{"name":"x"\}; allowed: a Scheduler$/,
  });
});

test('one registry takes several schedulers, never two of one name, and loses the metrics when the last closes', async (t) => {
  const registry = new Registry();
  const a = await memoryScheduler(t);
  const b = await memoryScheduler(t);
  const metricsA = collectMetrics(a, { registry, defaultMetrics: true });
  const metricsB = collectMetrics(b, { registry, defaultMetrics: true });
  t.is(metricsA.registry, registry);
  const both = await Scrape.of(registry);
  for (const scheduler of [a, b]) {
    t.is(both.value('task_semaphore_slots', { scheduler: scheduler.name, slot_class: 'MemorySlot', backend: 'work', status: 'idle' }), 1);
  }
  t.true(
    both.samples.some((s) => s.name === 'process_cpu_user_seconds_total'),
    'the default metrics, once, unprefixed',
  );

  const sameName = await memoryScheduler(t, a.name);
  t.throws(() => collectMetrics(sameName, { registry }), { instanceOf: ConfigError, message: /^collectMetrics\(scheduler\): got "conf_/ });
  const other = collectMetrics(sameName, { registry, prefix: 'mine_' });
  t.true(
    (await Scrape.of(registry)).samples.some((s) => s.name === 'mine_slots' && s.labels.scheduler === a.name),
    'another prefix',
  );
  other.close();

  metricsA.close();
  metricsA.close(); // idempotent
  const afterA = await Scrape.of(registry);
  t.deepEqual(
    afterA.series('task_semaphore_slots').map(([labels]) => labels),
    ['idle', 'reserved', 'running'].map((status) => JSON.stringify({ slot_class: 'MemorySlot', backend: 'work', status })),
    "a closed scheduler's slots are no longer read",
  );
  t.false(
    afterA.samples.some((s) => s.name === 'task_semaphore_slots' && s.labels.scheduler === a.name),
    'only b is read',
  );
  const again = collectMetrics(sameName, { registry });
  again.close();
  metricsB.close();
  const none = await registry.metrics();
  t.notRegex(none, /task_semaphore_/, 'the last close took the metrics out of the registry');
  t.regex(none, /process_cpu_user_seconds_total/, 'the default metrics belong to the registry, and stay');
});

test("a prefix whose names a registry already holds, another library's, is a ConfigError", async (t) => {
  const registry = new Registry();
  new Gauge({ name: 'task_semaphore_slots', help: 'not ours', registers: [registry] });
  const scheduler = await memoryScheduler(t);
  t.throws(() => collectMetrics(scheduler, { registry }), {
    instanceOf: ConfigError,
    message:
      /^collectMetrics\(options\.prefix\): got "task_semaphore_"; allowed: a prefix none of the registry's metrics has: it already has task_semaphore_slots/,
  });
  t.is(registry.getMetricsAsArray().length, 1, 'nothing registered');
  const { close } = collectMetrics(scheduler, { registry, prefix: 'ts_' });
  close();
});
