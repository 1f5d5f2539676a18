/**
 * A process's wall clock set minutes off with libfaketime (Debian package `faketime`), for tests
 * that check the store's or the database's clock decides, never the process's. Given as the
 * environment of a spawned node: LD_PRELOAD applies at exec, so the child keeps its own pid (the
 * `faketime` command would fork it). CLOCK_MONOTONIC stays true (FAKETIME_DONT_FAKE_MONOTONIC=1),
 * and with it Node's timers, `performance.now()` and `process.hrtime`; `Date.now()` is skewed.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The path of libfaketime.so.1, wherever the distribution keeps it.
 * @throws Error saying how to install it when it is missing
 */
export function libfaketimePath(): string {
  for (const dir of ['/usr/lib', '/usr/local/lib', '/usr/lib64']) {
    const direct = join(dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(direct)) return direct;
    if (!existsSync(dir)) continue;
    for (const arch of readdirSync(dir)) {
      const path = join(dir, arch, 'faketime', 'libfaketime.so.1');
      if (existsSync(path)) return path;
    }
  }
  throw new Error('libfaketime.so.1 not found: install the Debian package faketime (apt-get install -y faketime)');
}

/** The environment that runs a node child with its wall clock `minutes` off (negative: behind). */
export function skewedClockEnv(minutes: number): Record<string, string> {
  return { LD_PRELOAD: libfaketimePath(), FAKETIME: `${minutes >= 0 ? '+' : ''}${minutes}m`, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}
