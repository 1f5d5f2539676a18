/**
 * The cleanups of one run outside ava (the command lines): run in reverse order of registration,
 * as ava runs a test's teardowns; one that fails is reported and the others still run.
 */
import type { Teardown } from '../../helpers/own-servers.js';

export class Cleanup implements Teardown {
  private readonly fns: Array<() => unknown> = [];
  teardown(fn: () => unknown): void {
    this.fns.push(fn);
  }
  async run(): Promise<void> {
    for (const fn of this.fns.splice(0).reverse())
      await Promise.resolve(fn()).catch((error: unknown) => console.error('cleanup failed:', error));
  }
}
