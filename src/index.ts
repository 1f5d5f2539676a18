export * from './errors.js';
export * from '../slots/store.js';
export { MemorySlotStore, type MemorySlotStoreOptions } from '../slots/memory/memory-store.js';
