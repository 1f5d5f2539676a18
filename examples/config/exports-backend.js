// examples/config/exports-backend.js: a backend of your own, named by task-semaphore.json with
// `{ "module": "./exports-backend.js", "export": "ExportsBackend", "options": { … } }`. The
// config's `options` are its constructor's argument.
import { Backend } from 'task-semaphore';

export class ExportsBackend extends Backend {
  constructor({ directory }) {
    super();
    this.directory = directory;
    /** Exports waiting for a slot: a real backend would read them from its own queue. */
    this.waiting = [];
  }

  poll() {
    return this.waiting.shift() ?? null;
  }

  async startCallback(taskId, context) {
    console.log(`exporting ${taskId} to ${this.directory}`);
    await context.stop();
  }
}
