import type { SlotStore } from '../contracts/store.js';
import { ConfigError } from '../core/errors.js';
import { MemorySlotStore } from '../../slots/memory/memory-store.js';
import type { ResolvedOptions } from './options.js';
import type { RedisSlotStoreOptions } from '../../slots/redis/index.js';
import type { PostgresSlotStoreOptions } from '../../slots/postgres/index.js';

/** What a slot class factory gets to build the store of one scheduler. */
export interface SlotClassContext {
  /** The scheduler name. */
  name: string;
  options: ResolvedOptions;
}

/**
 * A slot class: builds the store that holds the state of a scheduler's slots of this class. Each
 * scheduler builds one store per slot class its config uses, and closes it on `close()`.
 */
export type SlotClass = (context: SlotClassContext) => SlotStore | Promise<SlotStore>;

/**
 * The built-in slot classes. The Redis and PostgreSQL stores are imported on first use, and they
 * load `ioredis` and `pg` on first use, so that both stay optional: install the one you use. A
 * missing one fails `load()` with a MissingPeerError saying what to install.
 */
export const builtinSlotClasses: Readonly<Record<string, SlotClass>> = {
  MemorySlot: ({ options }) => new MemorySlotStore({ history: options.history }),
  RedisSlot: async ({ name, options }) => {
    if (options.redis === undefined) {
      throw new ConfigError(
        'redis',
        undefined,
        'slot class RedisSlot needs the scheduler option `redis`: a redis:// URL or an ioredis client',
      );
    }
    const { RedisSlotStore } = await import('../../slots/redis/index.js');
    // A client passed the shape check of the options; the store reads it as the ioredis client it is.
    return new RedisSlotStore({
      name,
      redis: options.redis as RedisSlotStoreOptions['redis'],
      keyPrefix: options.keyPrefix,
      waitReplicas: options.redisWaitReplicas,
      history: options.history,
    });
  },
  PostgresSlot: async ({ name, options }) => {
    if (options.postgres === undefined) {
      throw new ConfigError(
        'postgres',
        undefined,
        'slot class PostgresSlot needs the scheduler option `postgres`: a postgres:// URL or a pg.Pool',
      );
    }
    const { PostgresSlotStore } = await import('../../slots/postgres/index.js');
    return new PostgresSlotStore({
      name,
      postgres: options.postgres as PostgresSlotStoreOptions['postgres'],
      schema: options.postgresSchema,
      preparedStatements: options.postgresPreparedStatements,
      ...(options.postgresUnlogged === undefined ? {} : { unlogged: options.postgresUnlogged }),
      history: options.history,
    });
  },
};
