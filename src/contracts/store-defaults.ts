/**
 * Defaults every slot store shares, so that an option of the same name means the same whichever
 * store takes it. A store's own defaults (a Redis key prefix, a PostgreSQL schema) stay with it.
 */
export const storeDefaults = Object.freeze({
  /** Most ended records a store keeps in its outbox per scheduler name; the oldest are dropped beyond it. */
  outboxLimit: 10_000,
});
