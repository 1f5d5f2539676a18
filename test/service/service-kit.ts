/**
 * What the service tests share: where the fixtures are (modules a config names, loaded from the
 * source tree as a deployment would load them), and the recording backend they define.
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Backend } from '../../src/contracts/backend.js';

export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const fixtures = join(root, 'test/service/fixtures');
export const example = join(root, 'examples/config/task-semaphore.json');

/** fixtures/recording-backend.js: runs the task ids of its options once each, recording each start. */
export interface RecordingBackendClass {
  new (options?: { tasks?: string[]; label?: string }): Backend;
  /** `label:taskId` of every task started by any instance. */
  readonly started: string[];
  /** How many instances were built. */
  readonly built: number;
}

/** The fixture module, imported as the loader imports it: the same module instance. */
export const recordingModule = (await import(pathToFileURL(join(fixtures, 'recording-backend.js')).href)) as {
  RecordingBackend: RecordingBackendClass;
};
