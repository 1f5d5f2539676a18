/**
 * How a command that reads or changes a scheduler name's state reaches its store: the scheduler
 * name and store URL from flags (or their environment variables), or both from a config file.
 */
import { Option, type Command } from 'commander';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ExitCode } from './exit-codes.js';
import { reportError, type Output } from './output.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { loadConfigFile } from '../service/load-config.js';
import type { ServiceConfig } from '../service/service-config.js';
import { defaultSlotClassOf, type SchedulerOptions } from '../scheduler/options.js';

export interface ConnectionFlags {
  config?: string;
  name?: string;
  redis?: string;
  postgres?: string;
  keyPrefix?: string;
  postgresSchema?: string;
  /** False with `--no-postgres-prepared-statements`. */
  postgresPreparedStatements?: boolean;
}

/** Adds the connection options to a command. */
export function withConnection(command: Command): Command {
  return command
    .addOption(new Option('--config <file>', 'config file: the scheduler name and store come from it').env('TASK_SEMAPHORE_CONFIG'))
    .addOption(new Option('--name <name>', 'scheduler name (without --config)').env('TASK_SEMAPHORE_NAME'))
    .addOption(new Option('--redis <url>', 'Redis of RedisSlot slots (without --config)').env('TASK_SEMAPHORE_REDIS'))
    .addOption(new Option('--postgres <url>', 'PostgreSQL of PostgresSlot slots (without --config)').env('TASK_SEMAPHORE_POSTGRES'))
    .addOption(new Option('--key-prefix <prefix>', 'prefix of the Redis keys (default: task-semaphore)').env('TASK_SEMAPHORE_KEY_PREFIX'))
    .addOption(
      new Option('--postgres-schema <schema>', 'schema of the PostgreSQL tables (default: public)').env('TASK_SEMAPHORE_POSTGRES_SCHEMA'),
    )
    .addOption(
      new Option(
        '--no-postgres-prepared-statements',
        'send PostgreSQL statements unprepared, as PgBouncer in transaction mode before 1.21 needs (without --config)',
      ),
    )
    .hook('preAction', (self) => {
      // Store flags typed on the command line win over a config file named only by the environment;
      // both typed is a mistake worth saying.
      const typed = (option: string) => self.getOptionValueSource(option) === 'cli';
      const storeTyped = typed('redis') || typed('postgres');
      if (storeTyped && typed('config')) {
        throw new ConfigError('--config', self.getOptionValue('config'), 'allowed: --config or --redis/--postgres, not both');
      }
      if (storeTyped && self.getOptionValueSource('config') === 'env') self.setOptionValue('config', undefined);
    });
}

/**
 * The scheduler options the flags name: a store and a name, or a ConfigError saying what is
 * missing. An empty value (an environment variable set to '') counts as not given.
 */
export function optionsFromFlags(given: ConnectionFlags): SchedulerOptions {
  const flags = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== '')) as ConnectionFlags;
  if (flags.name === undefined) {
    throw new ConfigError('--name', undefined, 'allowed: the scheduler name (or --config FILE, or $TASK_SEMAPHORE_NAME)');
  }
  if (flags.redis === undefined && flags.postgres === undefined) {
    throw new ConfigError(
      '--redis/--postgres',
      undefined,
      'allowed: the URL of the store holding the slots (or --config FILE); MemorySlot slots live in one process and cannot be reached from the shell',
    );
  }
  return {
    name: flags.name,
    ...(flags.redis !== undefined && { redis: flags.redis }),
    ...(flags.postgres !== undefined && { postgres: flags.postgres }),
    ...(flags.keyPrefix !== undefined && { keyPrefix: flags.keyPrefix }),
    ...(flags.postgresSchema !== undefined && { postgresSchema: flags.postgresSchema }),
    ...(flags.postgresPreparedStatements === false && { postgresPreparedStatements: false }),
  };
}

/** A scheduler that only talks to the store, and the config file it was made from, if any. */
export interface Connection {
  scheduler: Scheduler;
  config: ServiceConfig | null;
}

/**
 * A scheduler that only talks to the store (it loads no config and registers no backend, so a
 * stop made here leaves the task's callbacks to the schedulers that have its backend): close it
 * when done. With `--config`, the file's scheduler options, and every slot class its slots use.
 */
export async function connect(flags: ConnectionFlags, logger: Logger | false): Promise<Connection> {
  if (!flags.config) return { scheduler: new Scheduler({ ...optionsFromFlags(flags), logger }), config: null };
  const config = await loadConfigFile(flags.config);
  const fallback = defaultSlotClassOf(config.scheduler);
  const slotClasses = [...new Set([fallback, ...config.slots.map((slot) => slot.slotCls ?? slot.slot_cls ?? fallback)])];
  if (slotClasses.every((slotClass) => slotClass === 'MemorySlot' && !config.slotClasses.has(slotClass))) {
    // This process would open a memory store of its own, empty: every task would read as unknown.
    throw new ConfigError(
      '--config',
      flags.config,
      'its slots are all MemorySlot slots, which live in one process and cannot be reached from the shell; allowed: a config whose slots are in Redis or PostgreSQL',
    );
  }
  // --name (or TASK_SEMAPHORE_NAME) picks another name on the file's stores, as `purge NAME` does.
  const scheduler = new Scheduler({ ...config.scheduler, ...(flags.name ? { name: flags.name } : {}), logger });
  for (const [name, slotClass] of config.slotClasses) scheduler.registerSlotClass(name, slotClass);
  try {
    await scheduler.openStores(slotClasses);
  } catch (error) {
    await scheduler.close().catch(() => {});
    throw error;
  }
  return { scheduler, config };
}

/** Opens a scheduler on the store, asks, closes; errors become exit codes. */
export async function askStore(
  output: Output,
  flags: ConnectionFlags,
  doing: string,
  ask: (scheduler: Scheduler, config: ServiceConfig | null) => Promise<ExitCode>,
): Promise<ExitCode> {
  let connection: Connection | undefined;
  try {
    connection = await connect(flags, false);
    return await ask(connection.scheduler, connection.config);
  } catch (error) {
    return reportError(output, error, doing);
  } finally {
    await connection?.scheduler.close().catch(() => {});
  }
}
