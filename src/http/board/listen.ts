/** Scheduler listeners added together and removed together: what the board adds, it takes away. */
import type { SchedulerEvents } from '../../scheduler/events.js';
import type { Scheduler } from '../../scheduler/scheduler.js';

export type SchedulerHandlers = { [K in keyof SchedulerEvents]?: (...args: SchedulerEvents[K]) => void };

/** Adds each handler to `scheduler`; the function returned removes exactly those, once. */
export function listenTo(scheduler: Scheduler, handlers: SchedulerHandlers): () => void {
  // EventEmitter's typing of a listener does not narrow over a generic event name, hence the casts.
  const added = Object.entries(handlers) as Array<[keyof SchedulerEvents, (...args: never[]) => void]>;
  for (const [event, handler] of added) scheduler.on(event, handler as never);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    for (const [event, handler] of added) scheduler.off(event, handler as never);
  };
}
