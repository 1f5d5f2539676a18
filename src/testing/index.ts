/** The conformance suites users run against their own implementations (`task-semaphore/testing`). */
export * from './store-suite.js';
export * from './scheduler-suite.js';
