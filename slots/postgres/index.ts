export { PostgresSlotStore, type PostgresSlotStoreOptions } from './postgres-store.js';
