import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs `turn` every `everyMs` (never two at once) until stopped: the harness's samplers and
 * recoveries. A turn that fails is skipped; the next one tries again.
 */
export function repeat(everyMs: number, turn: () => Promise<unknown>): { stop(): Promise<void> } {
  let running = true;
  const done = (async () => {
    while (running) {
      await turn().catch(() => {});
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}
