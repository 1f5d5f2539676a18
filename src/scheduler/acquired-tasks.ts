import { Backend } from '../contracts/backend.js';

/**
 * The backend name every occupancy taken by `acquire()` or `run()` carries (in the store, the
 * history, the events). Reserved: `registerBackend` refuses it, and no slot config may list it.
 */
export const acquireBackend = '@acquire';

/**
 * Where the scheduler looks up an acquired task's backend (to deliver its end): it polls nothing,
 * and its callbacks do nothing, since the caller of `acquire` or `run` learns of the end itself.
 */
export class AcquiredTasks extends Backend {
  poll(): null {
    return null;
  }

  startCallback(): void {}
}
